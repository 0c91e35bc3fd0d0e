package consentd

import (
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/consentd/consentd/internal/i18n"
	"golang.org/x/text/unicode/norm"
)

// SMS keyword kinds: what a keyword asks for.
const (
	SMSStop  = "stop"  // opt the number out of every text
	SMSStart = "start" // lift an earlier STOP
	SMSHelp  = "help"  // say who sends and how to stop; consent unchanged
)

// smsKeyword is a keyword as SMSCommand returns it, and its kind.
type smsKeyword struct{ keyword, kind string }

// SMS keywords, as SMSCommand reads them. STOP, QUIT, END, REVOKE, OPT
// OUT, CANCEL and UNSUBSCRIBE are the opt-out list consentd started with;
// STOPALL is the CTIA's sixth standard opt-out keyword. START, UNSTOP and
// YES are the carriers' opt-in keywords, HELP and INFO their help keywords.
var smsKeywords = map[string]smsKeyword{
	"STOP":        {"STOP", SMSStop},
	"STOPALL":     {"STOPALL", SMSStop},
	"STOP ALL":    {"STOPALL", SMSStop},
	"QUIT":        {"QUIT", SMSStop},
	"END":         {"END", SMSStop},
	"REVOKE":      {"REVOKE", SMSStop},
	"OPT OUT":     {"OPT OUT", SMSStop},
	"OPTOUT":      {"OPT OUT", SMSStop},
	"CANCEL":      {"CANCEL", SMSStop},
	"UNSUBSCRIBE": {"UNSUBSCRIBE", SMSStop},
	"START":       {"START", SMSStart},
	"UNSTOP":      {"UNSTOP", SMSStart},
	"YES":         {"YES", SMSStart},
	"HELP":        {"HELP", SMSHelp},
	"INFO":        {"INFO", SMSHelp},
}

// maxKeywordInput bounds the texts SMSCommand reads: no keyword with its
// punctuation is longer, so a longer text is not one.
const maxKeywordInput = 256

// SMSKeyword reports whether an SMS reply is an opt-out keyword, and which
// (SMSCommand of kind SMSStop).
func SMSKeyword(text string) (keyword string, ok bool) {
	keyword, kind, ok := SMSCommand(text)
	if !ok || kind != SMSStop {
		return "", false
	}
	return keyword, true
}

// SMSCommand reports whether an SMS reply is a keyword, which, and its
// kind: SMSStop, SMSStart or SMSHelp. The message must be the keyword
// alone: letters in any case (and in any Unicode compatibility form, such
// as full-width), with anything that is not a letter or a digit around it
// ignored (spaces, punctuation, quotes, emoji), and any such run between
// two words read as one space, so that "Stop.", " stop!! ", "🛑 STOP 🛑",
// "opt-out", "Opt  Out" and "OPTOUT" are keywords. A keyword inside a
// longer message ("please stop", "stop please", "STOP 2", "stop stop") is
// not: such a reply is kept for a person to review, because "don't stop"
// is not an opt-out.
func SMSCommand(text string) (keyword, kind string, ok bool) {
	if len(text) > maxKeywordInput {
		return "", "", false
	}
	s := norm.NFKC.String(text)
	var b strings.Builder
	gap := false
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			gap = b.Len() > 0
			continue
		}
		if gap {
			b.WriteByte(' ')
			gap = false
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	k, ok := smsKeywords[b.String()]
	return k.keyword, k.kind, ok
}

// Limits of the workspace's SMS settings, in bytes.
const (
	MaxSMSSenderName = 64
	MaxSMSHelpText   = 480 // three GSM-7 segments
)

// SMSSender returns the name the workspace's texts go out under: its
// sms_sender_name, else its name.
func (w *Workspace) SMSSender() string {
	if w.SMSSenderName != "" {
		return w.SMSSenderName
	}
	return w.Name
}

// SMSReply returns the text to answer an SMS keyword with, for a provider
// that takes a reply, in the workspace's default language (SMSReplyIn).
func SMSReply(keyword string, ws Workspace) (text string, ok bool) {
	return SMSReplyIn(keyword, ws, "")
}

// SMSReplyIn returns the text to answer an SMS keyword with, for a
// provider that takes a reply; keyword may be the reply as it came
// (SMSCommand reads it). HELP and INFO are answered with the workspace's
// sms_help_text, or by default with who sends and how to stop; STOP and
// START with a confirmation. The default wordings are in lang, the
// person's recorded language, else the workspace's default language, else
// English (locales/<lang>/sms.json, with the workspace's overrides). ok is
// false for text that is not a keyword. The reply never changes consent:
// the caller sends it or not.
func SMSReplyIn(keyword string, ws Workspace, lang string) (text string, ok bool) {
	_, kind, ok := SMSCommand(keyword)
	if !ok {
		return "", false
	}
	loc := smsLocale(ws, lang)
	sender := ws.SMSSender()
	switch kind {
	case SMSHelp:
		if ws.SMSHelpText != "" {
			return ws.SMSHelpText, true
		}
		return loc.T("sms.reply.help", "sender", sender), true
	case SMSStop:
		return loc.T("sms.reply.stop", "sender", sender), true
	}
	return loc.T("sms.reply.start", "sender", sender), true
}

// smsLocale is the locale of a text to a person whose recorded language
// is lang, with the workspace's overrides.
func smsLocale(ws Workspace, lang string) *i18n.Locale {
	l := i18n.Choose("", lang, "", ws.DefaultLanguage)
	return i18n.Get(l).With(ws.Texts[l])
}

// SMSConfirmKeyword is the reply that confirms an SMS double opt-in (the
// confirmation text asks for it): from a number with a confirmation
// waiting, it confirms the most recent one; from any other it is read as
// START, its kind.
const SMSConfirmKeyword = "YES"

// InboundReply returns the reply to a stored SMS reply in the workspace's
// default language (InboundReplyIn).
func InboundReply(m *InboundMessage, ws Workspace) string {
	return InboundReplyIn(m, ws, "")
}

// InboundReplyIn returns the reply to a stored SMS reply, in lang (the
// sender's recorded language; see SMSReplyIn): SMSReplyIn of its keyword
// when the keyword acted (opted out, opted in, help), a short
// acknowledgement when it confirmed a double opt-in, "" for text kept for
// review.
func InboundReplyIn(m *InboundMessage, ws Workspace, lang string) string {
	switch m.Action {
	case InboundConfirmed:
		return smsLocale(ws, lang).T("sms.reply.confirmed", "sender", ws.SMSSender())
	case InboundOptedOut, InboundOptedIn, InboundHelp:
		text, _ := SMSReplyIn(m.Keyword, ws, lang)
		return text
	}
	return ""
}

// Actions an inbound SMS reply leads to, and the states of a stored reply.
const (
	InboundOptedOut  = "opted_out" // action and state: a keyword opted the number out of SMS
	InboundOptedIn   = "opted_in"  // action and state: START lifted an earlier STOP
	InboundHelp      = "help"      // action and state: HELP or INFO, answered; consent unchanged
	InboundConfirmed = "confirmed" // action and state: YES confirmed a pending SMS double opt-in
	InboundReview    = "review"    // action and state: other text, kept for a person to read
	InboundResolved  = "resolved"  // state: reviewed
)

// Resolutions of a reviewed reply.
const (
	ResolveDismiss = "dismiss" // nothing to do
	ResolveOptOut  = "opt_out" // the reply meant stop: opt the number out as a keyword does
)

// Limits of an inbound SMS reply's fields, in bytes.
const (
	MaxSMSText   = 8 << 10
	maxSMSField  = 64  // to, provider
	maxMessageID = 256 // message_id
)

// InboundSMS is an SMS reply as a provider's webhook hands it over.
type InboundSMS struct {
	From       string    `json:"from" max:"64" doc:"the sender's number: E.164, or national in the workspace's default region"`
	To         string    `json:"to,omitempty" max:"64" doc:"the number or short code the reply was sent to"`
	Text       string    `json:"text" max:"8192"`
	ReceivedAt time.Time `json:"received_at,omitzero" doc:"when the provider received the reply; default now. The opt-outs are captured at this time"`
	Provider   string    `json:"provider,omitempty" max:"64"`
	MessageID  string    `json:"message_id,omitempty" max:"256" doc:"the provider's id of the message: a reply delivered twice is handled once"`
	// ProviderKind is the keyword kind a provider already read the reply
	// as (Twilio's Advanced Opt-Out OptOutType, which knows the account's
	// own keywords): SMSStop, SMSStart or SMSHelp. When set it takes
	// precedence over reading Text; feeds set it, the API does not.
	ProviderKind string `json:"-"`
}

// Command returns the keyword and kind the reply is handled as: Text read
// by SMSCommand, or ProviderKind when a provider set it (the keyword is
// then the one Text spells when it is of that kind, else the kind's own:
// STOP, START or HELP).
func (in *InboundSMS) Command() (keyword, kind string) {
	keyword, kind, _ = SMSCommand(in.Text)
	switch in.ProviderKind {
	case "":
		return keyword, kind
	case kind:
		return keyword, kind
	case SMSStop, SMSStart, SMSHelp:
		return strings.ToUpper(in.ProviderKind), in.ProviderKind
	}
	return keyword, kind
}

// Validate checks the fields of a reply that need no store, and fills in
// ReceivedAt (now) when it is zero. The sender's number is checked when it
// is normalized (NormalizeSender). It returns an *Error naming the field.
func (in *InboundSMS) Validate(now time.Time) error {
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = now
	}
	in.ReceivedAt = in.ReceivedAt.UTC()
	switch {
	case len(in.Text) > MaxSMSText:
		return FieldErrorf(EINVALID, "text", "text is longer than %d bytes", MaxSMSText)
	case !utf8.ValidString(in.Text):
		return FieldErrorf(EINVALID, "text", "text is not valid UTF-8")
	case len(in.To) > maxSMSField || !noControlChars(in.To):
		return FieldErrorf(EINVALID, "to", "to is at most %d printable characters", maxSMSField)
	case len(in.Provider) > maxSMSField || !noControlChars(in.Provider):
		return FieldErrorf(EINVALID, "provider", "provider is at most %d printable characters", maxSMSField)
	case len(in.MessageID) > maxMessageID || !noControlChars(in.MessageID):
		return FieldErrorf(EINVALID, "message_id", "message_id is at most %d printable characters", maxMessageID)
	case in.ReceivedAt.After(now.Add(MaxSkew)):
		return FieldErrorf(EFUTURECAPTUREDAT, "received_at", "received_at is in the future")
	case in.ReceivedAt.Year() < 1970:
		return FieldErrorf(EINVALIDTIME, "received_at", "received_at is before 1970")
	}
	return checkTexts(textField{"text", in.Text, 0}, textField{"to", in.To, 0}, textField{"provider", in.Provider, 0},
		textField{"message_id", in.MessageID, 0})
}

// NormalizeSender normalizes the sender of an SMS reply as a phone number,
// with NormalizeStored: a STOP must reach a number an earlier release
// stored even if Normalize now refuses it. Its error names the field "from"
// and never the number.
func NormalizeSender(raw, defaultRegion string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", FieldErrorf(EINVALIDCONTACTPOINT, "from", "from is required: the sender's phone number")
	}
	cp, err := NormalizeStored(KindPhone, raw, defaultRegion)
	return cp, renameErrField(err, "contact_point", "from")
}

// renameField returns err with its field old called new: a normalization
// error for an input field that is not called contact_point.
func renameErrField(err error, old, new string) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	c := &Error{Code: e.Code, Message: strings.ReplaceAll(e.Message, old, new), Fields: make([]FieldError, len(e.Fields))}
	for i, f := range e.Fields {
		if f.Field == old {
			f.Field, f.Message = new, strings.ReplaceAll(f.Message, old, new)
		}
		c.Fields[i] = f
	}
	return c
}

func noControlChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// InboundMessage is a stored SMS reply.
type InboundMessage struct {
	ID            string     `json:"id"`
	From          string     `json:"from" doc:"the sender, normalized (E.164); personal data, never logged"`
	To            string     `json:"to,omitempty"`
	Text          string     `json:"text"`
	Provider      string     `json:"provider,omitempty"`
	MessageID     string     `json:"message_id,omitempty"`
	ReceivedAt    time.Time  `json:"received_at"`
	RecordedAt    time.Time  `json:"recorded_at"`
	Action        string     `json:"action" enum:"opted_out,opted_in,confirmed,help,review" doc:"what the reply did when it arrived"`
	Keyword       string     `json:"keyword,omitempty" doc:"the keyword it was read as (STOP, START, HELP and their synonyms)"`
	State         string     `json:"state" enum:"opted_out,opted_in,confirmed,help,review,resolved"`
	SuppressionID string     `json:"suppression_id,omitempty" doc:"the sms_stop suppression of the number: the one a STOP added or stands under, or the one a START lifted"`
	ResolvedAt    *time.Time `json:"resolved_at,omitempty"`
	ResolvedBy    string     `json:"resolved_by,omitempty"`
	Resolution    string     `json:"resolution,omitempty" enum:"dismiss,opt_out"`
	Note          string     `json:"note,omitempty"`
}

// WrittenConsent is a consent as a write left it, with what the write did.
type WrittenConsent struct {
	*Consent
	Applied bool    `json:"applied"`
	Outcome Outcome `json:"outcome" enum:"created,changed,unchanged,superseded"`
}

// InboundResult is what an SMS reply, or its review, did.
type InboundResult struct {
	Action      string           `json:"action" enum:"opted_out,opted_in,confirmed,help,review"`
	Duplicate   bool             `json:"duplicate,omitempty" doc:"the provider's message id was seen before: nothing was done again"`
	Message     *InboundMessage  `json:"message"`
	Suppression *Suppression     `json:"suppression,omitempty" doc:"STOP: the sms_stop suppression on channel sms, which blocks every text to the number, transactional too, also for purposes created later"`
	Lifted      []string         `json:"lifted,omitempty" doc:"START: the ids of the sms_stop suppressions it lifted"`
	Consents    []WrittenConsent `json:"consents,omitempty" doc:"STOP: the number's SMS consents, each written opted_out. START: those a STOP had opted out, written opted_in again. YES confirming a double opt-in: the consent it confirmed, opted_in"`
	Reply       string           `json:"reply,omitempty" doc:"the text to answer the sender with, when the provider takes a reply: for STOP, START, HELP and INFO; none for text kept for review"`
}

// InboundFilter selects stored replies.
type InboundFilter struct {
	State     string // review (default), resolved, opted_out, opted_in, confirmed, help, or all
	Limit     int
	PageToken string
}

// InboundResolution is a reviewer's answer to a reply.
type InboundResolution struct {
	Action string `json:"action,omitempty" enum:"dismiss,opt_out" doc:"dismiss (default): nothing to do; opt_out: the reply meant stop"`
	Note   string `json:"note,omitempty" max:"1000"`
}

// Validate checks a resolution and fills in the default action.
func (r *InboundResolution) Validate() error {
	if r.Action == "" {
		r.Action = ResolveDismiss
	}
	switch {
	case r.Action != ResolveDismiss && r.Action != ResolveOptOut:
		return FieldErrorf(EINVALID, "action", "action must be dismiss or opt_out")
	case len(r.Note) > 1000:
		return FieldErrorf(EINVALID, "note", "note is at most 1000 bytes")
	}
	return CheckText("note", r.Note, 0)
}

// ValidInboundState reports whether s selects stored replies.
func ValidInboundState(s string) bool {
	switch s {
	case InboundReview, InboundResolved, InboundOptedOut, InboundOptedIn, InboundHelp, InboundConfirmed, "all":
		return true
	}
	return false
}

// SMSStopWrites returns the opt-out writes of an SMS STOP: opted_out, at
// the reply's time, on each of the number's existing SMS consents, named by
// purpose and topic.
func SMSStopWrites(from string, existing []ChannelType, at time.Time, src Source) []ConsentWrite {
	out := make([]ConsentWrite, 0, len(existing))
	for _, ct := range existing {
		out = append(out, ConsentWrite{ContactPoint: from, Channel: ChannelSMS, Purpose: ct.Purpose, Topic: ct.Topic,
			Status: OptedOut, CapturedAt: at, Source: src, Reason: string(SuppressSMSStop)})
	}
	return out
}

// SMSStartWrites returns the opt-in writes of an SMS START: opted_in, at
// the reply's time, on each channel type in stopped, the number's SMS
// consents that a STOP keyword opted out and nothing changed since.
func SMSStartWrites(from string, stopped []ChannelType, at time.Time, src Source) []ConsentWrite {
	out := make([]ConsentWrite, 0, len(stopped))
	for _, ct := range stopped {
		out = append(out, ConsentWrite{ContactPoint: from, Channel: ChannelSMS, Purpose: ct.Purpose, Topic: ct.Topic,
			Status: OptedIn, CapturedAt: at, Source: src, Reason: "sms_start"})
	}
	return out
}

// StoppedBySMS reports whether a stored SMS consent is as a STOP keyword
// left it: opted_out with source {type: sms_keyword, name: sms_stop}, or
// {type: api, name: sms_stop} as earlier releases wrote it. START opts
// such consents in again, and no other: a later choice stands.
func StoppedBySMS(status Status, src Source) bool {
	return status == OptedOut && (src.Type == SourceSMSKeyword || src.Type == SourceAPI) && src.Name == "sms_stop"
}
