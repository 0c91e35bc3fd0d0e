package automation

import (
	"context"
	"fmt"

	"github.com/consentd/consentd"
)

// ErasureStore is what PurgeErased needs of a backend.
type ErasureStore interface {
	Workspace(ctx context.Context, id string) (*consentd.Workspace, error)
	WorkspaceSecret(ctx context.Context, id string) ([]byte, error)
	Jobs(ctx context.Context, wsID string, f consentd.JobFilter) ([]*consentd.Job, string, error)
	Erased(ctx context.Context, wsID string, hash [32]byte) (bool, error)
	PurgeJobInput(ctx context.Context, wsID, id, reason string) error
}

// ErasedInput is the error a job is failed with when its record named an
// erased contact point.
const ErasedInput = "the record named an erased contact point: its fields were deleted"

// PurgeErased deletes the input of every job of the workspace whose record
// names a contact point that was erased (an `erased` suppression), and
// fails those that had not run: a job keeps a record's fields until it
// succeeds, and an erasure must not leave the address there. Every string
// field of the record is tried as an email address and as a phone number
// (with the workspace's default region), so "Jane@Example.com " in a CRM
// field matches the erased jane@example.com. It returns how many jobs it
// purged.
func PurgeErased(ctx context.Context, st ErasureStore, wsID string) (int, error) {
	ws, err := st.Workspace(ctx, wsID)
	if err != nil {
		return 0, err
	}
	secret, err := st.WorkspaceSecret(ctx, wsID)
	if err != nil {
		return 0, err
	}
	erased := map[[32]byte]bool{}
	isErased := func(h [32]byte) (bool, error) {
		if v, ok := erased[h]; ok {
			return v, nil
		}
		v, err := st.Erased(ctx, wsID, h)
		if err != nil {
			return false, err
		}
		erased[h] = v
		return v, nil
	}
	purged := 0
	for page := ""; ; {
		jobs, next, err := st.Jobs(ctx, wsID, consentd.JobFilter{Limit: 1000, PageToken: page}) // every state
		if err != nil {
			return purged, err
		}
		for _, j := range jobs {
			if j.Input == nil {
				continue
			}
			hit, err := namesErased(j.Input.Fields, ws.DefaultRegion, secret, isErased)
			if err != nil {
				return purged, err
			}
			if !hit {
				continue
			}
			if err := st.PurgeJobInput(ctx, wsID, j.ID, ErasedInput); err != nil && consentd.ErrorCode(err) != consentd.ENOTFOUND {
				return purged, fmt.Errorf("purge job %s: %w", j.ID, err)
			}
			purged++
		}
		if next == "" {
			return purged, nil
		}
		page = next
	}
}

// namesErased reports whether any string in v (a record's fields, nested
// maps and lists included) normalizes to an erased contact point.
func namesErased(v any, region string, secret []byte, isErased func([32]byte) (bool, error)) (bool, error) {
	switch v := v.(type) {
	case string:
		for _, k := range []consentd.ContactPointKind{consentd.KindEmail, consentd.KindPhone} {
			cp, err := consentd.NormalizeStored(k, v, region)
			if err != nil {
				continue
			}
			if hit, err := isErased(consentd.ContactPointHash(secret, k, cp)); hit || err != nil {
				return hit, err
			}
		}
	case map[string]any:
		for _, x := range v {
			if hit, err := namesErased(x, region, secret, isErased); hit || err != nil {
				return hit, err
			}
		}
	case []any:
		for _, x := range v {
			if hit, err := namesErased(x, region, secret, isErased); hit || err != nil {
				return hit, err
			}
		}
	}
	return false, nil
}
