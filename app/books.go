package app

import (
	"context"
	"io"
	"time"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/reconcile"
)

// TrialBalance implements apoyo.LedgerReader.
func (s *Service) TrialBalance(ctx context.Context, _ apoyo.Identity) (apoyo.TrialBalance, error) {
	return s.Ledger.TrialBalance(ctx)
}

// Statement implements apoyo.LedgerReader.
func (s *Service) Statement(ctx context.Context, _ apoyo.Identity, account string, o apoyo.StatementOptions) (apoyo.Statement, error) {
	return s.Ledger.Statement(ctx, account, o)
}

// Balances implements apoyo.LedgerReader.
func (s *Service) Balances(ctx context.Context, _ apoyo.Identity, f apoyo.BalanceFilter) ([]apoyo.Balance, error) {
	return s.Ledger.Balances(ctx, f)
}

// VerifyLedger implements apoyo.LedgerReader.
func (s *Service) VerifyLedger(ctx context.Context, _ apoyo.Identity, o apoyo.LedgerVerifyOptions) (apoyo.LedgerVerifyReport, error) {
	if o.Full {
		return s.Ledger.Verify(ctx)
	}
	return s.Ledger.VerifyIncremental(ctx)
}

// Reconcile implements apoyo.ReconciliationService.
func (s *Service) Reconcile(ctx context.Context, _ apoyo.Identity, name string, statement io.Reader) (apoyo.ReconcileReport, error) {
	return s.reconciler().Reconcile(ctx, name, statement)
}

// Reconciliations implements apoyo.ReconciliationService.
func (s *Service) Reconciliations(ctx context.Context, _ apoyo.Identity, limit int) ([]apoyo.ReconcileRun, error) {
	return reconcile.Runs(ctx, s.Pool, limit)
}

// Reconciliation implements apoyo.ReconciliationService.
func (s *Service) Reconciliation(ctx context.Context, _ apoyo.Identity, id int64) (apoyo.ReconcileReport, error) {
	return reconcile.Run(ctx, s.Pool, id)
}

// AuditEntries implements apoyo.AuditLog.
func (s *Service) AuditEntries(ctx context.Context, _ apoyo.Identity, f apoyo.AuditFilter) ([]apoyo.AuditEntry, error) {
	return s.Audit.List(ctx, f)
}

// VerifyAudit implements apoyo.AuditLog.
func (s *Service) VerifyAudit(ctx context.Context, _ apoyo.Identity) (apoyo.AuditVerifyReport, error) {
	return s.Audit.Verify(ctx)
}

// AuditHead implements apoyo.AuditLog.
func (s *Service) AuditHead(ctx context.Context, _ apoyo.Identity) (apoyo.AuditHead, error) {
	return s.Audit.Head(ctx)
}

// CreateUser implements apoyo.AccountService.
func (s *Service) CreateUser(ctx context.Context, who apoyo.Identity, u apoyo.NewUser) (apoyo.User, error) {
	return s.Accounts.CreateUser(ctx, u, who)
}

// Users implements apoyo.AccountService.
func (s *Service) Users(ctx context.Context, _ apoyo.Identity) ([]apoyo.User, error) {
	return s.Accounts.Users(ctx)
}

// DisableUser implements apoyo.AccountService.
func (s *Service) DisableUser(ctx context.Context, who apoyo.Identity, name string) (apoyo.User, error) {
	return s.Accounts.DisableUser(ctx, name, who)
}

// CreateToken implements apoyo.AccountService.
func (s *Service) CreateToken(ctx context.Context, who apoyo.Identity, userName string, ttl time.Duration) (apoyo.NewToken, error) {
	return s.Accounts.CreateToken(ctx, userName, ttl, who)
}

// Tokens implements apoyo.AccountService.
func (s *Service) Tokens(ctx context.Context, _ apoyo.Identity, userName string) ([]apoyo.Token, error) {
	return s.Accounts.Tokens(ctx, userName)
}

// RevokeToken implements apoyo.AccountService.
func (s *Service) RevokeToken(ctx context.Context, who apoyo.Identity, tokenID string) (apoyo.Token, error) {
	return s.Accounts.RevokeToken(ctx, tokenID, who)
}
