package importfmt

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReaders feeds arbitrary bytes to every format: no panic, and every
// row is exactly one of writes, a skip or a reject, on a line after the
// header. The seeds are the test files.
func FuzzReaders(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.csv"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range Formats() {
			opt := Options{Catalog: testCatalog()}
			if format == Listmonk || format == Mailchimp {
				opt.Purpose, opt.Channel = "newsletter", "email"
			}
			r, err := NewReader(format, bytes.NewReader(data), opt)
			if err != nil {
				continue
			}
			for rows := 0; ; rows++ {
				if rows > len(data) {
					t.Fatalf("%s: %d rows from %d bytes: Next does not advance", format, rows, len(data))
				}
				row, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s: Next: %v", format, err)
				}
				n := 0
				if len(row.Writes) > 0 {
					n++
				}
				if row.Skip != "" {
					n++
				}
				if row.Reject != nil {
					n++
				}
				if n != 1 || row.Line < 2 {
					t.Fatalf("%s: line %d: %d of writes, skip, reject: %+v", format, row.Line, n, row)
				}
			}
		}
	})
}
