package mqttclient

import "github.com/metronome-rt/metronome/runtime"

// Simulate runs the client in an application test (runtime.Simulator)
// instead of Start: it opens no connection and no queue and starts no
// goroutine. From its first tick it is connected: Connected is true, its
// publish topics publish by their triggers (on connection, on change, by
// interval) to publish instead of the broker, QoS 0 included, each counted
// as sent; its status topic says online, retained, on that first tick; and
// Deliver gives it messages as the broker would.
func (c *client) Simulate(publish func(runtime.Message)) error {
	c.sim = publish
	c.io.connected.Store(true)
	c.io.epoch.Store(1)
	return nil
}

// Deliver takes a message as if the broker had delivered it: decoded for
// every subscribe topic and device whose filter matches, latched at the
// next tick. It reports whether any matched.
func (c *client) Deliver(m runtime.Message) bool {
	return c.io.receive(m.Topic, m.Payload, m.Retain)
}

// simConnect publishes what a connection publishes first: the online
// status, retained.
func (c *client) simConnect() {
	c.simUp = true
	if st := c.cfg.Status; st.Topic != "" {
		c.sim(runtime.Message{Topic: st.Topic, Payload: []byte(st.Online), QoS: byte(st.QoS), Retain: true})
		c.io.out.Add(1)
	}
}

var _ runtime.Simulator = (*client)(nil)
