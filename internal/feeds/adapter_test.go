package feeds

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
	"github.com/consentd/consentd/internal/sqlite"
)

// recorder is an adapter as a later provider writes one: it takes
// settings, and records the request it was given.
type recorder struct{ got chan *Request }

func (recorder) Name() consentd.FeedProvider { return "recorder" }
func (recorder) TakesSettings()              {}
func (recorder) Configure(f *consentd.Feed) (string, error) {
	if f.Settings["account"] == "" {
		return "", consentd.FieldErrorf(consentd.EINVALID, "settings", "settings.account is required")
	}
	return "", nil
}
func (r recorder) Verify(f *consentd.Feed, req *Request) (string, error) {
	r.got <- req
	return "", nil
}
func (recorder) Parse(body []byte) ([]Event, error) {
	var evs []Event
	if err := json.Unmarshal(body, &evs); err != nil {
		return nil, ErrMalformed
	}
	return evs, nil
}

// TestAdapterContract: an adapter registered as later providers will be
// gets its settings checked, the URL the provider posted to, and its
// events acted on; today's providers refuse settings.
func TestAdapterContract(t *testing.T) {
	rec := recorder{got: make(chan *Request, 1)}
	register(rec)
	t.Cleanup(func() { delete(providers, "recorder") })
	if _, err := Configure(&consentd.Feed{ID: "r", Provider: "recorder"}); consentd.ErrorCode(err) != consentd.EINVALID {
		t.Errorf("Configure(no settings) = %v; want the adapter's refusal", err)
	}
	if _, err := Configure(&consentd.Feed{ID: "m", Provider: consentd.ProviderMailgun, Secret: "k", Settings: map[string]string{"a": "b"}}); consentd.ErrorCode(err) != consentd.EINVALID {
		t.Errorf("Configure(mailgun with settings) = %v; want invalid", err)
	}

	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "consentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws, err := db.CreateWorkspace(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	region := "DE" // a national number is read in the workspace's region
	if _, err := db.UpdateWorkspace(ctx, ws.ID, consentd.WorkspaceUpdate{DefaultRegion: &region}, "test"); err != nil {
		t.Fatal(err)
	}
	f := &consentd.Feed{ID: "r", Provider: "recorder", Settings: map[string]string{"account": "AC123"}}
	if _, err := Configure(f); err != nil {
		t.Fatal(err)
	}
	if err := db.PutFeed(ctx, ws.ID, f, true); err != nil {
		t.Fatal(err)
	}
	h := NewHandler(db, nil, slog.New(slog.DiscardHandler))
	h.PublicURL = "https://consent.example.com/"
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	body := `[{"Kind":"hard_bounce","ID":"e1","Recipient":"0151 12345678","Channel":"sms","At":"` + at + `"}]`
	resp, err := http.Post(srv.URL+"/feeds/"+ws.ID+"/recorder/r?x=1", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST = %d", resp.StatusCode)
	}
	if req := <-rec.got; req.URL != "https://consent.example.com/feeds/"+ws.ID+"/recorder/r?x=1" || string(req.Body) != body {
		t.Errorf("the adapter got URL %q, body %q", req.URL, req.Body)
	}
	sups, err := db.Suppressions(ctx, ws.ID)
	if err != nil || len(sups) != 1 || sups[0].Channel != "sms" || sups[0].Kind != consentd.KindPhone || sups[0].ContactPoint != "+4915112345678" || sups[0].Reason != consentd.SuppressHardBounce {
		t.Errorf("suppressions = %+v, %v; want a hard_bounce of the number on sms", sups, err)
	}
}
