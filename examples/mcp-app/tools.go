package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// searchIn is search_appointments' input in v1.
type searchIn struct {
	UserID string `json:"userId" jsonschema:"the customer whose appointments to list, such as t1"`
}

// searchInV2 adds an optional day: a compatible change.
type searchInV2 struct {
	UserID string `json:"userId" jsonschema:"the customer whose appointments to list, such as t1"`
	Date   string `json:"date,omitempty" jsonschema:"only appointments on this day, YYYY-MM-DD"`
}

// searchInRequired makes the day required: the breaking change of
// --break require-arg.
type searchInRequired struct {
	UserID string `json:"userId" jsonschema:"the customer whose appointments to list, such as t1"`
	Date   string `json:"date" jsonschema:"only appointments on this day, YYYY-MM-DD"`
}

type appointment struct {
	ID     string `json:"id"`
	Doctor string `json:"doctor"`
	At     string `json:"at"`
}

type searchOut struct {
	Count        int           `json:"count"`
	Appointments []appointment `json:"appointments"`
}

type customerIn struct {
	ID string `json:"id" jsonschema:"the customer's ID, such as t1"`
}

// customerV1 has the address as one line.
type customerV1 struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Address string `json:"address"`
}

// address is v2's structured address.
type address struct {
	Street string `json:"street"`
	City   string `json:"city"`
	Zip    string `json:"zip"`
}

type customerV2 struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Address     string  `json:"address"`
	AddressInfo address `json:"address_info"`
}

// server builds the MCP server of the configured version and faults.
func (a *app) server() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "clinic", Version: a.cfg.version}, nil)
	search := &mcp.Tool{
		Name:        "search_appointments",
		Description: "List a customer's upcoming appointments.",
		Meta:        mcp.Meta{"openai/outputTemplate": widgetURI},
	}
	switch {
	case a.cfg.broken(breakRequireArg):
		mcp.AddTool(s, search, func(ctx context.Context, _ *mcp.CallToolRequest, in searchInRequired) (*mcp.CallToolResult, searchOut, error) {
			return a.search(ctx, in.UserID, in.Date)
		})
	case a.cfg.version == "v2":
		mcp.AddTool(s, search, func(ctx context.Context, _ *mcp.CallToolRequest, in searchInV2) (*mcp.CallToolResult, searchOut, error) {
			return a.search(ctx, in.UserID, in.Date)
		})
	default:
		mcp.AddTool(s, search, func(ctx context.Context, _ *mcp.CallToolRequest, in searchIn) (*mcp.CallToolResult, searchOut, error) {
			return a.search(ctx, in.UserID, "")
		})
	}
	if !a.cfg.broken(breakRemoveTool) {
		get := &mcp.Tool{Name: "get_customer", Description: "One customer with their address."}
		if a.cfg.version == "v2" {
			mcp.AddTool(s, get, func(ctx context.Context, _ *mcp.CallToolRequest, in customerIn) (*mcp.CallToolResult, customerV2, error) {
				c, err := a.customer(ctx, in.ID)
				return nil, c, err
			})
		} else {
			mcp.AddTool(s, get, func(ctx context.Context, _ *mcp.CallToolRequest, in customerIn) (*mcp.CallToolResult, customerV1, error) {
				c, err := a.customer(ctx, in.ID)
				return nil, customerV1{ID: c.ID, Name: c.Name, Address: c.Address}, err
			})
		}
	}
	s.AddResource(&mcp.Resource{URI: widgetURI, Name: "appointments-widget", Title: "Appointments", MIMEType: skybridge},
		func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: widgetURI, MIMEType: skybridge, Text: a.widgetHTML()}}}, nil
		})
	return s
}

func (a *app) search(ctx context.Context, user, day string) (*mcp.CallToolResult, searchOut, error) {
	if a.cfg.broken(breakToolError) {
		return nil, searchOut{}, errors.New("search appointments: database pool exhausted (broken on purpose)")
	}
	q := `SELECT id, doctor, at FROM appointments WHERE user_id = ?`
	args := []any{user}
	if day != "" {
		q += ` AND substr(at, 1, 10) = ?`
		args = append(args, day)
	}
	rows, err := a.db.QueryContext(ctx, q+` ORDER BY at`, args...)
	if err != nil {
		return nil, searchOut{}, fmt.Errorf("search appointments of %s: %w", user, err)
	}
	out := searchOut{Appointments: []appointment{}}
	for rows.Next() {
		var ap appointment
		if err := rows.Scan(&ap.ID, &ap.Doctor, &ap.At); err != nil {
			return nil, searchOut{}, errors.Join(fmt.Errorf("search appointments of %s: %w", user, err), rows.Close())
		}
		out.Appointments = append(out.Appointments, ap)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, searchOut{}, fmt.Errorf("search appointments of %s: %w", user, err)
	}
	out.Count = len(out.Appointments)
	text := fmt.Sprintf("%d appointments for %s", out.Count, user)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, out, nil
}

func (a *app) customer(ctx context.Context, id string) (customerV2, error) {
	var c customerV2
	err := a.db.QueryRowContext(ctx, `SELECT id, name, street, city, zip FROM customers WHERE id = ?`, id).
		Scan(&c.ID, &c.Name, &c.AddressInfo.Street, &c.AddressInfo.City, &c.AddressInfo.Zip)
	if errors.Is(err, sql.ErrNoRows) {
		return customerV2{}, fmt.Errorf("no customer %q", id)
	}
	if err != nil {
		return customerV2{}, fmt.Errorf("get customer %s: %w", id, err)
	}
	c.Address = c.AddressInfo.Street + ", " + c.AddressInfo.City + " " + c.AddressInfo.Zip
	return c, nil
}
