package mail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Letter is the content of one of consentd's own mails (the double opt-in
// confirmation, the preference link), written once and rendered twice: as
// the plain text and as the HTML of the same Message, so that both say
// the same. Texts are already in the person's language; the HTML is
// written with the language's direction, the sender's accent colour on
// the button, and the logo when the mail carries one inline.
type Letter struct {
	Lang string // BCP 47, for <html lang>
	Dir  string // "ltr" or "rtl"
	// Title is the HTML document's title (the subject).
	Title    string
	Greeting string
	Before   []string // paragraphs before the facts
	// FactsTitle introduces Facts, a list of what the mail is about.
	FactsTitle string
	Facts      []Fact
	Action     string // the paragraph before the link
	Button     string // the link's words in the HTML
	Link       string
	Fallback   string   // in the HTML: the words before the link written out, for a reader whose button does not work
	After      []string // paragraphs after the link
	// The brand: who sends, the button's colour (#rrggbb; another value
	// is ignored), the logo as the Content-ID of an inline image (none
	// when empty) with its alternative text, the privacy policy and a
	// footer line.
	Sender       string
	Accent       string
	LogoCID      string
	LogoAlt      string
	PrivacyLabel string
	PrivacyURL   string
	Footer       string
}

// WithLogo shows the image data (of contentType) as l's logo, with the
// alternative text alt, and returns the inline part the Message carries
// it in: its Content-ID is made from the image's hash.
func (l *Letter) WithLogo(contentType string, data []byte, alt string) Inline {
	sum := sha256.Sum256(data)
	l.LogoCID, l.LogoAlt = "logo-"+hex.EncodeToString(sum[:8])+"@consentd", alt
	return Inline{ContentID: l.LogoCID, ContentType: contentType, Data: data}
}

// Fact is one line of a Letter's list: a label, a value, and an optional
// detail under it (a description).
type Fact struct {
	Label, Value, Detail string
}

// DefaultAccent is the button colour of a sender without one: 6.1:1 with
// white.
const DefaultAccent = "#0b57d0"

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// accent returns l's accent colour when it is one, else DefaultAccent.
func (l *Letter) accent() string {
	if hexColor.MatchString(l.Accent) {
		return strings.ToLower(l.Accent)
	}
	return DefaultAccent
}

// Text renders l as plain text: paragraphs separated by blank lines, the
// facts as an indented list of aligned labels, the link written out, and
// the footer and privacy policy under a signature separator.
func (l *Letter) Text() string {
	var b strings.Builder
	para := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			b.WriteString(s)
			b.WriteString("\n\n")
		}
	}
	para(l.Greeting)
	for _, p := range l.Before {
		para(p)
	}
	if len(l.Facts) > 0 {
		para(l.FactsTitle)
		width := 0
		for _, f := range l.Facts {
			width = max(width, utf8.RuneCountInString(f.Label)+1)
		}
		pad := strings.Repeat(" ", width+4)
		for _, f := range l.Facts {
			b.WriteString("  " + f.Label + ":" + strings.Repeat(" ", width+2-utf8.RuneCountInString(f.Label)-1) + f.Value + "\n")
			if f.Detail != "" {
				b.WriteString(pad + f.Detail + "\n")
			}
		}
		b.WriteString("\n")
	}
	para(l.Action)
	para(l.Link)
	for _, p := range l.After {
		para(p)
	}
	var sig []string
	for _, s := range []string{l.Footer, l.privacyLine()} {
		if s = strings.TrimSpace(s); s != "" {
			sig = append(sig, s)
		}
	}
	if len(sig) > 0 {
		b.WriteString("-- \n" + strings.Join(sig, "\n") + "\n")
	}
	return b.String()
}

func (l *Letter) privacyLine() string {
	if l.PrivacyURL == "" {
		return ""
	}
	return l.PrivacyLabel + ": " + l.PrivacyURL
}

// HTML renders l as an HTML document for mail readers: inline styles
// (many readers drop <style>), a table layout, no script, no remote
// content (the logo is inline, by cid:).
func (l *Letter) HTML() (string, error) {
	dir := l.Dir
	if dir != "rtl" {
		dir = "ltr"
	}
	start := "left"
	if dir == "rtl" {
		start = "right"
	}
	v := struct {
		*Letter
		Dir, Start string
		AccentCSS  template.CSS
		LogoSrc    template.URL
	}{Letter: l, Dir: dir, Start: start, AccentCSS: template.CSS(l.accent())}
	if l.LogoCID != "" {
		v.LogoSrc = template.URL("cid:" + l.LogoCID)
	}
	var b bytes.Buffer
	if err := letterHTML.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

var letterHTML = template.Must(template.New("letter").Parse(`<!doctype html>
<html lang="{{.Lang}}" dir="{{.Dir}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
</head>
<body style="margin:0;padding:0;background:#f4f4f4;color:#1a1a1a">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f4f4"><tr><td align="center" style="padding:24px 12px">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:560px;background:#ffffff;border-radius:8px;border-top:4px solid {{.AccentCSS}}">
<tr><td dir="{{.Dir}}" style="padding:24px 28px;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;text-align:{{.Start}}">
{{- if .LogoSrc}}
<p style="margin:0 0 16px"><img src="{{.LogoSrc}}" alt="{{.LogoAlt}}" style="max-height:48px;max-width:200px;border:0"></p>
{{- else if .Sender}}
<p style="margin:0 0 16px;font-weight:600;color:{{.AccentCSS}}">{{.Sender}}</p>
{{- end}}
{{with .Greeting}}<p style="margin:0 0 16px">{{.}}</p>{{end}}
{{- range .Before}}
<p style="margin:0 0 16px">{{.}}</p>
{{- end}}
{{- if .Facts}}
{{with .FactsTitle}}<p style="margin:0 0 8px;font-weight:600">{{.}}</p>{{end}}
<table role="presentation" cellpadding="0" cellspacing="0" style="margin:0 0 16px;border-collapse:collapse">
{{- range .Facts}}
<tr><td style="padding:4px 0;padding-inline-end:16px;vertical-align:top;color:#4a4a4a;white-space:nowrap">{{.Label}}</td><td style="padding:4px 0;vertical-align:top"><strong>{{.Value}}</strong>{{with .Detail}}<br>{{.}}{{end}}</td></tr>
{{- end}}
</table>
{{- end}}
{{with .Action}}<p style="margin:0 0 16px">{{.}}</p>{{end}}
{{- if .Link}}
<p style="margin:0 0 24px"><a href="{{.Link}}" style="display:inline-block;padding:12px 24px;border-radius:6px;background:{{.AccentCSS}};color:#ffffff;font-weight:600;text-decoration:none">{{.Button}}</a></p>
{{with .Fallback}}<p style="margin:0 0 16px;font-size:14px;color:#4a4a4a">{{.}}<br><a href="{{$.Link}}" style="color:{{$.AccentCSS}};word-break:break-all">{{$.Link}}</a></p>{{end}}
{{- end}}
{{- range .After}}
<p style="margin:0 0 16px">{{.}}</p>
{{- end}}
</td></tr>
{{- if or .Footer .PrivacyURL}}
<tr><td dir="{{.Dir}}" style="padding:16px 28px;border-top:1px solid #e0e0e0;font:13px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#4a4a4a;text-align:{{.Start}}">
{{with .Footer}}<p style="margin:0 0 8px">{{.}}</p>{{end}}
{{with .PrivacyURL}}<p style="margin:0"><a href="{{.}}" style="color:{{$.AccentCSS}}">{{$.PrivacyLabel}}</a></p>{{end}}
</td></tr>
{{- end}}
</table>
</td></tr></table>
</body>
</html>
`))
