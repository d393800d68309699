package router

import "testing"

func TestPayloadQueue(t *testing.T) {
	tests := []struct {
		name        string
		limit, push int
		wantFirst   byte
		wantLen     int
		wantDropped uint64
	}{
		{"under limit", 4, 3, 0, 3, 0},
		{"at limit", 3, 3, 0, 3, 0},
		{"over limit drops oldest", 3, 5, 2, 3, 2},
		{"zero limit keeps nothing", 0, 2, 0, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := payloadQueue{limit: tt.limit}
			for i := range tt.push {
				q.push(queued{tunnelID: uint32(i), payload: []byte{byte(i)}})
			}
			if q.dropped != tt.wantDropped {
				t.Errorf("dropped = %d, want %d", q.dropped, tt.wantDropped)
			}
			items := q.drain()
			if len(items) != tt.wantLen {
				t.Fatalf("drained %d, want %d", len(items), tt.wantLen)
			}
			if tt.wantLen > 0 && items[0].payload[0] != tt.wantFirst {
				t.Errorf("first = %d, want %d", items[0].payload[0], tt.wantFirst)
			}
			for i := 1; i < len(items); i++ {
				if items[i].tunnelID != items[i-1].tunnelID+1 {
					t.Errorf("order broken at %d: %d after %d", i, items[i].tunnelID, items[i-1].tunnelID)
				}
			}
			if q.len() != 0 {
				t.Errorf("len after drain = %d", q.len())
			}
		})
	}
}
