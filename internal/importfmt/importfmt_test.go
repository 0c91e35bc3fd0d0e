package importfmt

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentd/consentd"
)

// want is the expected outcome of one row: a reject code, a skip reason
// (a substring), or writes.
type want struct {
	line   int64
	code   string // reject code
	field  string // reject column, when code is set and the reject names one
	skip   string // substring of the skip reason
	writes []consentd.ConsentWrite
	sups   []consentd.SuppressionInput // with writes: the row's suppressions
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// readAll reads every row of file in format.
func readAll(t *testing.T, format, file string, opt Options) []Row {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := NewReader(format, f, opt)
	if err != nil {
		t.Fatalf("NewReader(%s, %s): %v", format, file, err)
	}
	var rows []Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		rows = append(rows, row)
	}
}

// check compares rows with wants, row by row.
func check(t *testing.T, rows []Row, wants []want) {
	t.Helper()
	if len(rows) != len(wants) {
		for _, r := range rows {
			t.Logf("line %d: skip=%q reject=%v writes=%+v", r.Line, r.Skip, r.Reject, r.Writes)
		}
		t.Fatalf("got %d rows; want %d", len(rows), len(wants))
	}
	for i, w := range wants {
		r := rows[i]
		if r.Line != w.line {
			t.Errorf("row %d: Line = %d; want %d", i, r.Line, w.line)
		}
		if len(r.Raw) == 0 {
			t.Errorf("line %d: Raw is empty", r.Line)
		}
		switch {
		case w.code != "":
			if r.Reject == nil {
				t.Errorf("line %d: Reject = nil (skip=%q writes=%+v); want code %s", r.Line, r.Skip, r.Writes, w.code)
				continue
			}
			if r.Reject.Code != w.code {
				t.Errorf("line %d: Reject.Code = %s (%s); want %s", r.Line, r.Reject.Code, r.Reject.Message, w.code)
			}
			if w.field != "" && (len(r.Reject.Fields) == 0 || r.Reject.Fields[0].Field != w.field) {
				t.Errorf("line %d: Reject.Fields = %+v; want field %s", r.Line, r.Reject.Fields, w.field)
			}
			if r.Skip != "" || len(r.Writes) > 0 {
				t.Errorf("line %d: rejected row also has skip=%q writes=%d", r.Line, r.Skip, len(r.Writes))
			}
		case w.skip != "":
			if r.Reject != nil {
				t.Errorf("line %d: Reject = %v; want skip %q", r.Line, r.Reject, w.skip)
			} else if !strings.Contains(r.Skip, w.skip) {
				t.Errorf("line %d: Skip = %q; want it to contain %q", r.Line, r.Skip, w.skip)
			}
			if len(r.Writes) > 0 {
				t.Errorf("line %d: skipped row has %d writes", r.Line, len(r.Writes))
			}
		default:
			if r.Reject != nil || r.Skip != "" {
				t.Errorf("line %d: Reject = %v, Skip = %q; want writes", r.Line, r.Reject, r.Skip)
				continue
			}
			if !reflect.DeepEqual(r.Writes, w.writes) {
				g, _ := json.MarshalIndent(r.Writes, "", " ")
				e, _ := json.MarshalIndent(w.writes, "", " ")
				t.Errorf("line %d: Writes =\n%s\nwant\n%s", r.Line, g, e)
			}
			if !reflect.DeepEqual(r.Suppressions, w.sups) {
				t.Errorf("line %d: Suppressions = %+v; want %+v", r.Line, r.Suppressions, w.sups)
			}
		}
	}
}

func TestNative(t *testing.T) {
	rows := readAll(t, "native", "native.csv", Options{})
	check(t, rows, []want{
		{line: 2, writes: []consentd.ConsentWrite{{
			ContactPoint: "Jane@Example.com", Channel: "email", Purpose: "newsletter", Status: consentd.OptedIn,
			CapturedAt: ts("2024-03-14T09:30:00Z"),
			Source:     consentd.Source{Type: "form", Name: "signup-form", Details: json.RawMessage(`{"form":"footer, v2"}`)},
			PartyID:    "party-1", Jurisdiction: "DE",
		}}},
		{line: 3, writes: []consentd.ConsentWrite{{
			ContactPoint: "+4915112345678", Channel: "sms", Purpose: "offers", Topic: "weekly-digest", Status: consentd.OptedOut,
			CapturedAt: ts("2024-03-14T09:30:00.123Z"),
			Source:     consentd.Source{Type: "import", Name: "native"},
			Reason:     "said \"stop\",\nby phone",
		}}},
		{line: 5, writes: []consentd.ConsentWrite{{
			ContactPoint: "bob@example.org", Channel: "email", Purpose: "newsletter", Status: consentd.Pending,
			CapturedAt: ts("2024-03-15T08:00:00Z"), Source: consentd.Source{Type: "double_opt_in", Name: "native"},
			Jurisdiction: "US-CA",
		}}},
		{line: 6, code: consentd.EINVALIDSTATUS, field: "status"},
		{line: 7, code: consentd.EINVALIDSTATUS, field: "status"},
		{line: 8, code: consentd.EINVALIDCONTACTPOINT, field: "contact_point"},
		{line: 9, code: consentd.EINVALIDTIME, field: "captured_at"},
		{line: 10, code: consentd.EINVALIDTIME, field: "captured_at"},
		{line: 11, code: consentd.EINVALID, field: "source_type"},
		{line: 12, code: consentd.EINVALID, field: "source_details"},
		{line: 13, code: consentd.EMALFORMED},
		{line: 14, code: consentd.EUNKNOWNPURPOSE, field: "purpose"},
		{line: 15, code: consentd.EINVALID, field: "channel"},
		{line: 16, code: consentd.EINVALID, field: "jurisdiction"},
		{line: 17, writes: []consentd.ConsentWrite{{
			ContactPoint: "max@example.org", Channel: "email", Purpose: "newsletter", Status: consentd.OptedOut,
			CapturedAt: ts("2024-03-16T08:00:00Z"), Source: consentd.Source{Type: "import", Name: "old-crm"},
			PartyID: "p-9", Reason: "moved, no longer interested",
		}}},
	})
}

// TestSourceName checks that Options.SourceName names the writes when the
// row does not.
func TestSourceName(t *testing.T) {
	rows := readAll(t, "native", "native.csv", Options{SourceName: "crm-2019"})
	if got := rows[1].Writes[0].Source.Name; got != "crm-2019" {
		t.Errorf("Source.Name = %q; want crm-2019", got)
	}
	if got := rows[0].Writes[0].Source.Name; got != "signup-form" {
		t.Errorf("Source.Name = %q; want the row's signup-form", got)
	}
}

func TestHeaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name, format, file string
		code               string
		fields             []string
	}{
		{"unknown format", "csv2000", "contact_point\n", consentd.EINVALID, []string{"format"}},
		{"empty file", "native", "", consentd.EMALFORMED, nil},
		{"missing columns", "native", "\ufeffContact_Point,Channel,Status\r\nx,email,opted_in\r\n", consentd.EINVALID, []string{"purpose", "captured_at"}},
		{"dynamics", "dynamics", "msdynmkt_contactpointvalue,msdynmkt_contactpointtype,_msdynmkt_purposeid_value,createdon\r\n", consentd.EINVALID, []string{"msdynmkt_value"}},
		{"salesforce", "salesforce", "ContactPointValue,PrivacyConsentStatus,Name\r\n", consentd.EINVALID, []string{"CommunicationSubscriptionChannelType", "ConsentCapturedDateTime"}},
		{"listmonk", "listmonk", "uuid,email,name,attributes\n", consentd.EINVALID, []string{"status", "created_at"}},
		{"mailchimp", "Mailchimp", "First Name,OPTIN_TIME\n", consentd.EINVALID, []string{"Email Address"}},
		{"header not CSV", "native", "contact_point,\"chan\"nel\n", consentd.EMALFORMED, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(tc.format, strings.NewReader(tc.file), Options{})
			var e *consentd.Error
			if !errors.As(err, &e) {
				t.Fatalf("NewReader error = %v; want a *consentd.Error", err)
			}
			if e.Code != tc.code {
				t.Errorf("code = %s; want %s", e.Code, tc.code)
			}
			var fields []string
			for _, f := range e.Fields {
				fields = append(fields, f.Field)
			}
			if !reflect.DeepEqual(fields, tc.fields) {
				t.Errorf("fields = %v; want %v", fields, tc.fields)
			}
		})
	}
}

// TestBadRowDoesNotStop checks that rows after a bad one, including one
// that is not even valid CSV, are still read, with the right line numbers.
func TestBadRowDoesNotStop(t *testing.T) {
	const file = "contact_point,channel,purpose,status,captured_at\n" +
		"a@example.org,email,news,opted_in,2024-01-01T00:00:00Z\n" +
		"b@example.org,email,news,opted_in,yesterday\n" +
		"c@exa\"mple.org,email,news,opted_in,2024-01-01T00:00:00Z\n" +
		"d@example.org,email,news,opted_in\n" +
		"e@example.org,email,news,opted_out,2024-01-01T00:00:00Z\n"
	r, err := NewReader("native", strings.NewReader(file), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		s := "ok"
		if row.Reject != nil {
			s = row.Reject.Code
		}
		got = append(got, strconv.FormatInt(row.Line, 10)+":"+s)
	}
	want := []string{"2:ok", "3:invalid_time", "4:malformed_request", "5:malformed_request", "6:ok"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %v; want %v", got, want)
	}
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func TestFormats(t *testing.T) {
	want := []string{"native", "dynamics", "salesforce", "listmonk", "mailchimp"}
	if got := Formats(); !reflect.DeepEqual(got, want) {
		t.Errorf("Formats() = %v; want %v", got, want)
	}
}

// failingReader returns its data, then an I/O error.
type failingReader struct{ data io.Reader }

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.data.Read(p)
	if err == io.EOF {
		return n, errors.New("disk on fire")
	}
	return n, err
}

// TestIOError checks that an error of the underlying reader is returned
// as an error, not as a rejected row.
func TestIOError(t *testing.T) {
	r, err := NewReader("native", &failingReader{strings.NewReader("contact_point,channel,purpose,status,captured_at\na@example.org,email,news,opted_in,2024-01-01T00:00:00Z\n")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if row, err := r.Next(); err != nil || row.Reject != nil {
		t.Fatalf("first row: %v %v", err, row.Reject)
	}
	if _, err := r.Next(); err == nil || err == io.EOF || consentd.ErrorCode(err) != consentd.EINTERNAL {
		t.Errorf("Next after the I/O error = %v; want that error", err)
	}
}

// TestSemicolons reads a file as a spreadsheet in a European locale saves
// it: semicolons between fields, commas inside them.
func TestSemicolons(t *testing.T) {
	const file = "\ufeffcontact_point;channel;purpose;status;captured_at;reason\r\n" +
		"a@example.org;email;news;opted_out;2024-01-01T00:00:00Z;\"too many, far too many\"\r\n"
	r, err := NewReader("native", strings.NewReader(file), Options{})
	if err != nil {
		t.Fatal(err)
	}
	row, err := r.Next()
	if err != nil || row.Reject != nil || len(row.Writes) != 1 {
		t.Fatalf("Next() = %+v, %v", row, err)
	}
	if w := row.Writes[0]; w.Status != consentd.OptedOut || w.Reason != "too many, far too many" {
		t.Errorf("write = %+v", w)
	}
}
