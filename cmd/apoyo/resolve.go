package main

import (
	"context"
	"path/filepath"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/platform/devstack"
	"github.com/apoyo-cdmx/apoyo/platform/migrations"
	"github.com/apoyo-cdmx/apoyo/platform/pgcluster"
	"github.com/apoyo-cdmx/apoyo/platform/pgdb"
)

// databaseURL finds the database: database.url when set, else the running
// local stack's, else the data directory's own cluster, started for the
// length of this command (so `apoyo ledger verify` works after `apoyo dev`
// has stopped).
func (a *cli) databaseURL(ctx context.Context) (string, func(), error) {
	if a.cfg.Database.URL != "" {
		return a.cfg.Database.URL, func() {}, nil
	}
	info, err := devstack.Discover(a.cfg.DataDir)
	if err != nil {
		return "", nil, err
	}
	if info != nil {
		return info.DatabaseURL, func() {}, nil
	}
	a.log.Debug("no running stack; starting the data directory's PostgreSQL for this command")
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(a.cfg.DataDir, "postgres"),
		Port: a.cfg.Dev.PostgresPort, BinDir: a.cfg.Dev.PostgresBinDir, Durable: true})
	if err != nil {
		return "", nil, apoyo.Errorf(apoyo.EUNAVAILABLE, "cli.no_database", "no database: set APOYO_DATABASE_URL or run `apoyo dev` (%v)", err)
	}
	if _, _, err := migrations.MigrateURL(ctx, c.URL("apoyo")); err != nil {
		_ = c.Stop()
		return "", nil, err
	}
	return c.URL("apoyo"), func() { _ = c.Stop() }, nil
}

// pool opens a connection pool on the resolved database.
func (a *cli) pool(ctx context.Context) (*pgxpool.Pool, func(), error) {
	url, stop, err := a.databaseURL(ctx)
	if err != nil {
		return nil, nil, err
	}
	p, err := pgdb.Open(ctx, url, a.cfg.Database.MaxConns)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return p, func() { p.Close(); stop() }, nil
}

// ledger opens the ledger on the resolved database.
func (a *cli) ledger(ctx context.Context) (*ledger.Ledger, func(), error) {
	p, stop, err := a.pool(ctx)
	if err != nil {
		return nil, nil, err
	}
	l := ledger.New(p, ledger.Options{BatchSize: a.cfg.Ledger.BatchSize, Writers: a.cfg.Ledger.Writers})
	return l, func() { l.Close(); stop() }, nil
}
