package ipamd

import (
	"context"
	"errors"
	"fmt"

	"github.com/enilab/enilab/ipamd/pool"
)

// ErrCustomNetworkingNoENI is upstream's handlePreScaling error when custom
// networking is on and start-up's pool increase attached nothing (an
// ENIConfig naming a missing subnet or security group, say): the node must
// not become ready, so ipamd exits.
var ErrCustomNetworkingNoENI = errors.New("Failed to attach any ENIs for custom networking") //nolint:staticcheck // upstream's wording

// preScale is upstream's handlePreScaling, the end of nodeInit: when the
// pool is too low it is increased once before gRPC is served. As upstream,
// an error assigning addresses is fatal ("error while trying to increase
// datastore pool"), and so is an empty pool under custom networking.
func (m *poolManager) preScale(ctx context.Context) error {
	st := m.store.Stats(m.clock.Now())
	if !pool.TooLow(m.params, st) {
		return nil
	}
	m.logPoolTooLow(st)
	done := m.metrics.inProgress("increaseDatastorePool")
	err := m.increase(ctx)
	done()
	if err != nil {
		m.metrics.podENIErr.WithLabelValues("nodeInit").Inc()
		return fmt.Errorf("error while trying to increase datastore pool: %w", err)
	}
	if m.cfg.CustomNetworking && m.store.Stats(m.clock.Now()).TotalIPs == 0 {
		m.metrics.podENIErr.WithLabelValues("nodeInit").Inc()
		return ErrCustomNetworkingNoENI
	}
	return nil
}
