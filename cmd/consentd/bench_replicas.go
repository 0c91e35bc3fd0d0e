package main

import (
	"context"
	"errors"
)

func benchReplicas(ctx context.Context, e *benchEnv) (*benchResult, error) {
	return nil, errors.New("not yet")
}
