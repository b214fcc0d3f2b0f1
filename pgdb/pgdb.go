// Package pgdb opens PostgreSQL connection pools the way every apoyo
// component needs them: NUMERIC mapped to decimal.Decimal (money never
// passes through a float), and a bounded pool size.
package pgdb

import (
	"context"
	"fmt"

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
