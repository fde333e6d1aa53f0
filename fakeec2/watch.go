package fakeec2

import "sync"

// watcher delivers events to one subscriber through an unbounded queue, so
// a slow node never blocks EC2 and never loses an event.
type watcher struct {
	mu     sync.Mutex
	queue  []Event
	signal chan struct{}
	out    chan Event
	done   chan struct{}
	once   sync.Once
}

// Watch subscribes to every change committed from now on, in commit order.
// Call stop when done; the channel closes after stop or Close.
func (s *Server) Watch() (events <-chan Event, stop func()) {
	w := &watcher{signal: make(chan struct{}, 1), out: make(chan Event), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		close(w.out)
		return w.out, func() {}
	}
	s.watchers[w] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer close(w.out)
		w.run()
	}()
	stop = func() {
		s.mu.Lock()
		delete(s.watchers, w)
		s.mu.Unlock()
		w.stop()
	}
	return w.out, stop
}

func (w *watcher) stop() { w.once.Do(func() { close(w.done) }) }

func (w *watcher) run() {
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			w.mu.Unlock()
			select {
			case <-w.signal:
				continue
			case <-w.done:
				return
			}
		}
		ev := w.queue[0]
		w.queue[0] = Event{}
		w.queue = w.queue[1:]
		w.mu.Unlock()
		select {
		case w.out <- ev:
		case <-w.done:
			return
		}
	}
}

// emit queues ev for every watcher; callers hold s.mu, which fixes the
// commit order.
func (s *Server) emit(ev Event) {
	for w := range s.watchers {
		w.mu.Lock()
		w.queue = append(w.queue, ev)
		w.mu.Unlock()
		select {
		case w.signal <- struct{}{}:
		default:
		}
	}
}
