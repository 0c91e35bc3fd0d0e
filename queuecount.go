package consentd

// QueueCounts is what waits in the job queue and among data-subject
// requests at one moment, per workspace, for monitoring: counts only,
// never what the jobs or requests name.
type QueueCounts struct {
	Jobs     []JobCount
	Requests []RequestCount
}

// JobCount counts a workspace's queued and failed jobs of one kind.
type JobCount struct {
	WorkspaceID string
	Kind        string
	Queued      int64 // queued, due or not
	Due         int64 // queued with run_at at or before now: waiting for a runner
	Failed      int64 // out of attempts, waiting for a retry by hand
}

// RequestCount counts a workspace's pending data-subject requests.
type RequestCount struct {
	WorkspaceID string
	Pending     int64
	Overdue     int64 // pending past their due date
}
