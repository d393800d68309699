package frontendd

import (
	"fmt"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := Config{Name: "f1", Listen: "127.0.0.1:0", Router: "127.0.0.1:7001"}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" when valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no name", func(c *Config) { c.Name = "" }, "frontend serve: --name is required"},
		{"no listen", func(c *Config) { c.Listen = "" }, "frontend serve: --listen is required"},
		{"no router", func(c *Config) { c.Router = "" }, "frontend serve: --router is required"},
		{"router", func(c *Config) { c.Router = "nowhere" }, `frontend serve: --router "nowhere": want HOST:PORT`},
		{"bad name", func(c *Config) { c.Name = "bad name" }, "frontend serve: --name: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			err := c.Validate()
			got := fmt.Sprint(err)
			if (tt.want == "") != (err == nil) || len(got) < len(tt.want) || got[:len(tt.want)] != tt.want {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
