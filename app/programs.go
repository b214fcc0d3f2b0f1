package app

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/enrolment"
	"github.com/apoyo-cdmx/apoyo/program"
)

// CreateProgram implements apoyo.ProgramService.
func (s *Service) CreateProgram(ctx context.Context, who apoyo.Identity, spec apoyo.ProgramSpec) (apoyo.Program, error) {
	p, err := program.Build(spec, time.Now().UTC())
	if err != nil {
		return apoyo.Program{}, err
	}
	p.CreatedBy = who.UserID
	return s.ProgramStore.Create(ctx, p, s.Ledger)
}

// Program implements apoyo.ProgramService: an id ("prg_…") or a name.
func (s *Service) Program(ctx context.Context, _ apoyo.Identity, idOrName string) (apoyo.Program, error) {
	ref := strings.TrimSpace(idOrName)
	if strings.HasPrefix(ref, "prg_") {
		p, err := s.ProgramStore.Get(ctx, ref)
		if !errors.Is(err, program.ErrNotFound) {
			return p, err
		}
	}
	return s.ProgramStore.ByName(ctx, ref)
}

// Programs implements apoyo.ProgramService.
func (s *Service) Programs(ctx context.Context, _ apoyo.Identity) ([]apoyo.Program, error) {
	return s.ProgramStore.List(ctx)
}

// ImportRoster implements apoyo.BeneficiaryService. The import is
// attributed to who, for separation of duties.
func (s *Service) ImportRoster(ctx context.Context, who apoyo.Identity, programID string, r io.Reader, o apoyo.ImportOptions) (apoyo.ImportReport, error) {
	p, err := s.Program(ctx, who, programID)
	if err != nil {
		return apoyo.ImportReport{}, err
	}
	o.ImportedBy = who.UserID
	return s.BeneficiaryStore.Import(ctx, p.ID, r, o)
}

// Beneficiary implements apoyo.BeneficiaryService.
func (s *Service) Beneficiary(ctx context.Context, _ apoyo.Identity, id string) (apoyo.Beneficiary, error) {
	return s.BeneficiaryStore.Profile(ctx, id)
}

// ErrPurposeRequired: personal data is read for a stated purpose only.
var ErrPurposeRequired = apoyo.Errorf(apoyo.EINVALID, "auth.purpose_required", "reading personal data needs a purpose")

// PersonalData implements apoyo.BeneficiaryService. The audit decorator
// records the read, with its purpose, before the data leaves.
func (s *Service) PersonalData(ctx context.Context, _ apoyo.Identity, id, purpose string) (apoyo.PersonalData, error) {
	if strings.TrimSpace(purpose) == "" {
		return apoyo.PersonalData{}, ErrPurposeRequired.At(0, "purpose")
	}
	b, err := s.BeneficiaryStore.Get(ctx, id)
	if err != nil {
		return apoyo.PersonalData{}, err
	}
	return personalData(b), nil
}

func personalData(b enrolment.Person) apoyo.PersonalData {
	r := b.Record
	return apoyo.PersonalData{BeneficiaryID: b.ID, GivenNames: r.GivenNames, FirstSurname: r.FirstSurname, SecondSurname: r.SecondSurname,
		CURP: r.CURP, DocumentType: r.IDDocumentType, DocumentNumber: r.IDDocumentNumber, Phone: r.Phone, Email: r.Email,
		CLABE: r.CLABE, CardNumber: r.CardNumber}
}
