// Package pgdb opens PostgreSQL connection pools the way every apoyo
// component needs them: NUMERIC mapped to decimal.Decimal (money never
// passes through a float), and a bounded pool size.
package pgdb

import (
	"context"
	"fmt"
	neturl "net/url"
	"strings"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open connects a pool to url with at most maxConns connections (0 keeps
// pgx's default) and checks that the server answers.
func Open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgdb: parsing database URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		Register(c)
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgdb: connecting: %w", err)
	}
	return pool, nil
}

// Register maps NUMERIC to decimal.Decimal on one connection.
func Register(c *pgx.Conn) { pgxdecimal.Register(c.TypeMap()) }

// Exec runs one statement on a short-lived connection to url: for
// administration (CREATE/DROP DATABASE) that must not run in a pool's
// transaction or database.
func Exec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// WithDatabase returns url pointing at database db on the same server.
func WithDatabase(url, db string) string {
	u, err := neturl.Parse(url)
	if err != nil {
		return url
	}
	u.Path = "/" + strings.TrimPrefix(db, "/")
	return u.String()
}
