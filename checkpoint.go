package consentd

import "time"

// CheckpointRecord is one stored signed checkpoint of a workspace's log: the
// tree size it commits to, the signed note text, and when it was stored.
type CheckpointRecord struct {
	Size      int64
	Signed    string
	CreatedAt time.Time
}
