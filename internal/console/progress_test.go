package console

import (
	"testing"

	"github.com/consentd/consentd"
)

func TestImportProgress(t *testing.T) {
	for _, c := range []struct {
		state consentd.ImportState
		rows  int64
		want  string
	}{
		{consentd.ImportQueued, 0, "waiting to start (2048 bytes)"},
		{consentd.ImportRunning, 1, "1 row done so far, of a file of 2048 bytes"},
		{consentd.ImportRunning, 300, "300 rows done so far, of a file of 2048 bytes"},
		{consentd.ImportSucceeded, 5, "all 5 rows done"},
		{consentd.ImportFailed, 7, "7 rows done before it stopped"},
	} {
		im := &consentd.Import{State: c.state, ImportSpec: consentd.ImportSpec{Size: 2048}, ImportCounts: consentd.ImportCounts{Rows: c.rows}}
		if got := importProgress(im); got != c.want {
			t.Errorf("importProgress(%s, %d rows) = %q; want %q", c.state, c.rows, got, c.want)
		}
	}
}
