package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// adminTimeout bounds creating or dropping one test database.
const adminTimeout = 30 * time.Second

// createDatabase creates an empty database for t on the server at
// serverURL, registers its drop in t.Cleanup and returns its URL.
func createDatabase(t testing.TB, serverURL string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Not quoting the value: it may hold a password.
		return "", fmt.Errorf("want a postgres:// URL")
	}
	name, err := databaseName(t.Name())
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	err = admin(ctx, serverURL, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create database %s on %s: %w", name, u.Host, err)
	}
	t.Cleanup(func() {
		if err := dropDatabase(serverURL, name); err != nil {
			t.Errorf("pgtest: drop database %s on %s: %v", name, u.Host, err)
		}
	})
	u.Path = "/" + name
	return u.String(), nil
}

// dropDatabase drops name, disconnecting whoever is still connected
// (PostgreSQL 13 and later).
func dropDatabase(serverURL, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	return admin(ctx, serverURL, func(conn *pgx.Conn) error {
		var version int
		if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
			return fmt.Errorf("read server version: %w", err)
		}
		drop := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize()
		if version >= 130000 {
			drop += " WITH (FORCE)"
		}
		_, err := conn.Exec(ctx, drop)
		return err
	})
}

// admin runs fn on a new connection to serverURL.
func admin(ctx context.Context, serverURL string, fn func(conn *pgx.Conn) error) (err error) {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := conn.Close(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}()
	return fn(conn)
}

// databaseName is a unique, valid database name that shows which test
// made it: bgtest_<test name>_<random>.
func databaseName(testName string) (string, error) {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	clean := b.String()
	if len(clean) > 40 {
		clean = clean[len(clean)-40:]
	}
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return "", fmt.Errorf("random database name: %w", err)
	}
	return "bgtest_" + clean + "_" + hex.EncodeToString(suffix[:]), nil
}
