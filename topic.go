package consentd

import "time"

// Topic is a finer subscription under a purpose ("weekly digest" under
// "newsletter"), offered on its purpose's channels.
type Topic struct {
	ID           string            `json:"id" doc:"slug, unique with purpose ids in a workspace"`
	Purpose      string            `json:"purpose"`
	Name         string            `json:"name"`
	Description  string            `json:"description,omitempty" doc:"what the messages are, for the people who get them (see the purpose's description)"`
	Names        map[string]string `json:"names,omitempty" doc:"the name per language (de, fr, es, ar, en)"`
	Descriptions map[string]string `json:"descriptions,omitempty" doc:"the description per language"`
	ExternalIDs  map[string]string `json:"external_ids,omitempty"`
	// ChannelExternalIDs maps a channel to a foreign channel type id for the
	// topic's channel type on it.
	ChannelExternalIDs map[string]string `json:"channel_external_ids,omitempty"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`
}

// Validate checks a topic on its own; that its purpose exists is the
// store's job. It returns an *Error with code EINVALID.
func (t *Topic) Validate() error {
	var fields []FieldError
	if !ValidID(t.ID) {
		fields = append(fields, FieldError{Field: "id", Code: EINVALID, Message: "id must match [a-z0-9][a-z0-9_-]{0,63}"})
	}
	if t.Purpose == "" {
		fields = append(fields, FieldError{Field: "purpose", Code: EINVALID, Message: "purpose is required"})
	}
	if t.Name == "" {
		fields = append(fields, FieldError{Field: "name", Code: EINVALID, Message: "name is required"})
	} else if err := CheckText("name", t.Name, MaxNameLen); err != nil {
		fields = append(fields, FieldError{Field: "name", Code: EINVALID, Message: ErrorMessage(err)})
	}
	if err := CheckText("description", t.Description, MaxDescriptionLen); err != nil {
		fields = append(fields, FieldError{Field: "description", Code: EINVALID, Message: ErrorMessage(err)})
	}
	fields = append(fields, checkLocalized("names", t.Names, MaxNameLen)...)
	fields = append(fields, checkLocalized("descriptions", t.Descriptions, MaxDescriptionLen)...)
	if len(fields) > 0 {
		return &Error{Code: EINVALID, Message: fields[0].Message, Fields: fields}
	}
	return nil
}

// ChannelType is derived: one per (purpose or topic) x channel. Its id is
// "<purpose or topic id>:<channel>".
type ChannelType struct {
	ID          string      `json:"id"`
	Purpose     string      `json:"purpose"`
	Topic       string      `json:"topic,omitempty"`
	Channel     string      `json:"channel"`
	Enforcement Enforcement `json:"enforcement" enum:"restrictive,non_restrictive,disabled"`
	ExternalID  string      `json:"external_id,omitempty"`
}

// ChannelTypeID returns "<subscription>:<channel>".
func ChannelTypeID(subscription, channel string) string { return subscription + ":" + channel }

// Catalog is a workspace's purposes and topics, enough to resolve channel
// types and decide. It is a value: build it once, read it from many
// goroutines.
type Catalog struct {
	Purposes map[string]*Purpose
	Topics   map[string]*Topic
	byExt    map[string]ChannelType
}

// NewCatalog indexes purposes and topics.
func NewCatalog(purposes []*Purpose, topics []*Topic) *Catalog {
	c := &Catalog{Purposes: map[string]*Purpose{}, Topics: map[string]*Topic{}, byExt: map[string]ChannelType{}}
	for _, p := range purposes {
		c.Purposes[p.ID] = p
	}
	for _, t := range topics {
		c.Topics[t.ID] = t
	}
	for _, ct := range c.ChannelTypes() {
		if ct.ExternalID != "" {
			c.byExt[ct.ExternalID] = ct
		}
	}
	return c
}

// ChannelTypes lists every derived channel type, sorted by id.
func (c *Catalog) ChannelTypes() []ChannelType {
	var out []ChannelType
	for _, pid := range sortedKeys(c.Purposes) {
		p := c.Purposes[pid]
		for _, ch := range sortedKeys(p.Channels) {
			s := p.Channels[ch]
			out = append(out, ChannelType{ID: ChannelTypeID(p.ID, ch), Purpose: p.ID, Channel: ch, Enforcement: s.Enforcement, ExternalID: s.ExternalID})
		}
	}
	for _, tid := range sortedKeys(c.Topics) {
		t := c.Topics[tid]
		p := c.Purposes[t.Purpose]
		if p == nil {
			continue
		}
		for _, ch := range sortedKeys(p.Channels) {
			out = append(out, ChannelType{ID: ChannelTypeID(t.ID, ch), Purpose: p.ID, Topic: t.ID, Channel: ch, Enforcement: p.Channels[ch].Enforcement, ExternalID: t.ChannelExternalIDs[ch]})
		}
	}
	return out
}

// Resolve finds the channel type for a purpose, optional topic and channel.
// It returns EUNKNOWNPURPOSE, EUNKNOWNTOPIC or ECHANNELNOTOFFERED.
func (c *Catalog) Resolve(purpose, topic, channel string) (ChannelType, error) {
	p := c.Purposes[purpose]
	if p == nil {
		return ChannelType{}, FieldErrorf(EUNKNOWNPURPOSE, "purpose", "no purpose with this id")
	}
	var t *Topic
	if topic != "" {
		if t = c.Topics[topic]; t == nil || t.Purpose != p.ID {
			return ChannelType{}, FieldErrorf(EUNKNOWNTOPIC, "topic", "no topic with this id under the purpose")
		}
	}
	s, ok := p.Channels[channel]
	if !ok {
		return ChannelType{}, FieldErrorf(ECHANNELNOTOFFERED, "channel", "the purpose is not offered on this channel")
	}
	if t != nil {
		return ChannelType{ID: ChannelTypeID(t.ID, channel), Purpose: p.ID, Topic: t.ID, Channel: channel, Enforcement: s.Enforcement, ExternalID: t.ChannelExternalIDs[channel]}, nil
	}
	return ChannelType{ID: ChannelTypeID(p.ID, channel), Purpose: p.ID, Channel: channel, Enforcement: s.Enforcement, ExternalID: s.ExternalID}, nil
}

// ResolveID finds a channel type by its own id ("newsletter:email") or by
// its external id. It returns EUNKNOWNCHANNELTYPE.
func (c *Catalog) ResolveID(id string) (ChannelType, error) {
	if ct, ok := c.byExt[id]; ok {
		return ct, nil
	}
	for i := len(id) - 1; i > 0; i-- {
		if id[i] != ':' {
			continue
		}
		sub, ch := id[:i], id[i+1:]
		if t := c.Topics[sub]; t != nil {
			if ct, err := c.Resolve(t.Purpose, t.ID, ch); err == nil {
				return ct, nil
			}
		} else if ct, err := c.Resolve(sub, "", ch); err == nil {
			return ct, nil
		}
		break
	}
	return ChannelType{}, FieldErrorf(EUNKNOWNCHANNELTYPE, "channel_type", "no channel type with this id or external id")
}
