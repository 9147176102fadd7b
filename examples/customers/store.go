package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// generation is a schema generation: which columns the app reads and writes.
type generation string

// The generations.
const (
	genV1 generation = "v1" // customers.address
	genV2 generation = "v2" // customers.street_address, city, state, zip_code
)

// customer is one row as either generation sees it; the fields of the
// other generation stay empty.
type customer struct {
	ID      int64
	Name    string
	Address string // v1
	Street  string // v2
	City    string
	State   string
	Zip     string
}

// errNotFound: no customer with that id.
var errNotFound = errors.New("no such customer")

// store is the customers table in one generation's shape.
type store struct {
	db      *sql.DB
	dialect string // postgres or sqlite
	gen     generation
}

// openStore connects to postgres://… or sqlite:path. The table comes from
// the migrations; openStore does not create it.
func openStore(ctx context.Context, rawURL string, gen generation) (*store, error) {
	var (
		db      *sql.DB
		dialect string
		err     error
	)
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		dialect = "postgres"
		db, err = sql.Open("pgx", rawURL)
	case strings.HasPrefix(rawURL, "sqlite:"):
		dialect = "sqlite"
		p := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//")
		abs, aerr := filepath.Abs(p)
		if aerr != nil {
			return nil, fmt.Errorf("sqlite path %s: %w", p, aerr)
		}
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
		db, err = sql.Open("sqlite", (&url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}).String())
		if err == nil {
			// Other processes (the other slot, the migration runner) write
			// the same file: one connection here, and they wait for each
			// other through busy_timeout.
			db.SetMaxOpenConns(1)
		}
	default:
		scheme, _, _ := strings.Cut(rawURL, ":")
		// The URL may hold a password: name only its scheme.
		return nil, fmt.Errorf("database URL scheme %q: want postgres://… or sqlite:path", scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open %s database: %w", dialect, err), db.Close())
	}
	return &store{db: db, dialect: dialect, gen: gen}, nil
}

func (s *store) close() error { return s.db.Close() }

// q turns ? placeholders into $1, $2… on PostgreSQL.
func (s *store) q(query string) string {
	if s.dialect != "postgres" {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// columns are the columns this generation reads, after id and name.
func (s *store) columns() string {
	if s.gen == genV1 {
		return "address"
	}
	return "street_address, city, state, zip_code"
}

// ready reports whether the table has this generation's columns.
func (s *store) ready(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, "SELECT id, name, "+s.columns()+" FROM customers WHERE 1 = 0")
	if err != nil {
		return fmt.Errorf("schema %s: %w", s.gen, err)
	}
	return rows.Close()
}

func (s *store) scan(row interface{ Scan(...any) error }) (customer, error) {
	var (
		c                   customer
		a, st, ci, sta, zip sql.NullString
	)
	var err error
	if s.gen == genV1 {
		err = row.Scan(&c.ID, &c.Name, &a)
	} else {
		err = row.Scan(&c.ID, &c.Name, &st, &ci, &sta, &zip)
	}
	c.Address, c.Street, c.City, c.State, c.Zip = a.String, st.String, ci.String, sta.String, zip.String
	return c, err
}

// get returns one customer, or errNotFound.
func (s *store) get(ctx context.Context, id int64) (customer, error) {
	c, err := s.scan(s.db.QueryRowContext(ctx, s.q("SELECT id, name, "+s.columns()+" FROM customers WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return customer{}, errNotFound
	}
	if err != nil {
		return customer{}, fmt.Errorf("read customer %d: %w", id, err)
	}
	return c, nil
}

// list returns every customer by id.
func (s *store) list(ctx context.Context) ([]customer, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, name, "+s.columns()+" FROM customers ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	defer rows.Close() //nolint:errcheck // rows.Err is checked below
	var out []customer
	for rows.Next() {
		c, err := s.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list customers: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	return out, nil
}

// create inserts c in this generation's shape and reads it back (the
// dual-write trigger may have filled the other generation's columns).
func (s *store) create(ctx context.Context, c customer) (customer, error) {
	var (
		id  int64
		err error
	)
	if s.gen == genV1 {
		err = s.db.QueryRowContext(ctx, s.q("INSERT INTO customers (name, address) VALUES (?, ?) RETURNING id"), c.Name, c.Address).Scan(&id)
	} else {
		err = s.db.QueryRowContext(ctx, s.q("INSERT INTO customers (name, street_address, city, state, zip_code) VALUES (?, ?, ?, ?, ?) RETURNING id"),
			c.Name, c.Street, c.City, c.State, c.Zip).Scan(&id)
	}
	if err != nil {
		return customer{}, fmt.Errorf("create customer: %w", err)
	}
	return s.get(ctx, id)
}

// update sets the address fields of this generation's shape.
func (s *store) update(ctx context.Context, id int64, c customer) (customer, error) {
	var (
		res sql.Result
		err error
	)
	if s.gen == genV1 {
		res, err = s.db.ExecContext(ctx, s.q("UPDATE customers SET address = ? WHERE id = ?"), c.Address, id)
	} else {
		res, err = s.db.ExecContext(ctx, s.q("UPDATE customers SET street_address = ?, city = ?, state = ?, zip_code = ? WHERE id = ?"),
			c.Street, c.City, c.State, c.Zip, id)
	}
	if err != nil {
		return customer{}, fmt.Errorf("update customer %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return customer{}, fmt.Errorf("update customer %d: %w", id, err)
	} else if n == 0 {
		return customer{}, errNotFound
	}
	return s.get(ctx, id)
}
