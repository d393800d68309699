package status

import "testing"

func TestByRouter(t *testing.T) {
	tests := []struct {
		in   map[string]int
		want string
	}{
		{nil, "-"},
		{map[string]int{}, "-"},
		{map[string]int{"r1": 3}, "r1=3"},
		{map[string]int{"r2": 2, "r1": 3, "r10": 0}, "r1=3 r10=0 r2=2"},
	}
	for _, tt := range tests {
		if got := ByRouter(tt.in); got != tt.want {
			t.Errorf("ByRouter(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestShortHex(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"0123456789ab", "0123456789ab"},
		{"0123456789abcdef", "0123456789ab…"},
	}
	for _, tt := range tests {
		if got := ShortHex(tt.in); got != tt.want {
			t.Errorf("ShortHex(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
