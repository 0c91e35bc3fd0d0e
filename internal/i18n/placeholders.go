package i18n

// Placeholders returns the {names} text uses, sorted, with repeats: what a
// workspace's override of a text may use is checked against the shipped
// English text's.
func Placeholders(text string) []string { return placeholders(text) }
