package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/imh-project/imh/internal/pki"
)

// The one configuration path of the daemon commands (agent, router serve,
// frontend serve, simnet serve; docs/cli.md, "Configuration"). A command
// declares its flags once, with their defaults, and decodes its settings
// into its own struct whose mapstructure tags are the flag names:
//
//	flag > IMH_<FLAG> environment > --config YAML file > the flag's default
//
// Every value that does not come from the command line is checked against
// the flag's type before it is decoded, so a word where a number belongs
// or a list where one value belongs is a usage error (exit 2) naming the
// setting and where it came from, never a silent zero.

// configFileFlag names a daemon's YAML config file; IMH_CONFIG is its
// environment variable, as for any flag.
const configFileFlag = "config"

// envName is the environment variable of a flag: IMH_ plus the flag name
// in upper case with "-" turned into "_" (--grace-period: IMH_GRACE_PERIOD).
func envName(flag string) string {
	return "IMH_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// lookupEnv reads a flag's environment variable. An empty value counts as
// unset, as viper treats it: `IMH_X=` in a unit file does not override the
// config file with nothing.
func lookupEnv(flag string) (string, bool) {
	v, ok := os.LookupEnv(envName(flag))
	return v, ok && v != ""
}

// settingFlags are the flags of cmd that are settings: all but --help and
// --config, which names the file rather than being a key in it.
func settingFlags(cmd *cobra.Command) map[string]*pflag.Flag {
	out := make(map[string]*pflag.Flag)
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && f.Name != configFileFlag {
			out[f.Name] = f
		}
	})
	return out
}

// loadConfig decodes the settings of cmd, a daemon command whose flags are
// parsed, into out (a pointer to a struct tagged with the flag names), by
// the layers above. name prefixes every error ("router serve"). The file
// is read only when cmd has a --config flag: its value, else IMH_CONFIG.
// Any bad value, unknown key or unreadable file is a usage error (exit 2).
func loadConfig(cmd *cobra.Command, name string, out any) error {
	flags := settingFlags(cmd)
	v := viper.New()
	v.SetEnvPrefix("IMH")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	for _, f := range flags {
		if err := v.BindPFlag(f.Name, f); err != nil {
			return fmt.Errorf("%s: flag %s: %w", name, f.Name, err)
		}
	}
	file, err := readConfigFile(cmd, name, flags)
	if err != nil {
		return err
	}
	if err := checkSettings(name, flags, file); err != nil {
		return err
	}
	if err := v.MergeConfigMap(file.values); err != nil {
		return usageErrorf("%s: config %s: %w", name, file.path, err)
	}
	if err := v.UnmarshalExact(out); err != nil {
		return usageErrorf("%s: settings: %w", name, err)
	}
	return nil
}

// configFile is a daemon's YAML file once read: its path ("" when there is
// none) and its values, normalized to what an environment variable would
// hold (a string) or, for a list setting, a list of strings.
type configFile struct {
	path   string
	values map[string]any
}

// readConfigFile reads the --config file of cmd, if it has one, and
// rejects keys that are not the command's flag names.
func readConfigFile(cmd *cobra.Command, name string, flags map[string]*pflag.Flag) (configFile, error) {
	cf := configFile{values: map[string]any{}}
	flag := cmd.Flags().Lookup(configFileFlag)
	if flag == nil {
		return cf, nil
	}
	cf.path = flag.Value.String()
	if cf.path == "" {
		cf.path, _ = lookupEnv(configFileFlag)
	}
	if cf.path == "" {
		return cf, nil
	}
	fv := viper.New()
	fv.SetConfigFile(cf.path)
	fv.SetConfigType("yaml")
	if err := fv.ReadInConfig(); err != nil {
		return cf, usageErrorf("%s: config %s: %w", name, cf.path, err)
	}
	settings := fv.AllSettings()
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		f, ok := flags[k]
		if !ok {
			return cf, usageErrorf("%s: config %s: unknown key %q (the keys are the flag names of imh %s)", name, cf.path, k, name)
		}
		val, want := fileValue(f.Value.Type(), settings[k])
		if want != "" {
			return cf, usageErrorf("%s: config %s: setting %s: want %s, got %s", name, cf.path, k, want, shortValue(settings[k]))
		}
		cf.values[k] = val
	}
	return cf, nil
}

// checkSettings checks the value each flag not given on the command line
// takes from the environment or the file (the flag parser has checked the
// command line, and defaults are the flags' own).
func checkSettings(name string, flags map[string]*pflag.Flag, file configFile) error {
	for _, k := range slices.Sorted(maps.Keys(flags)) {
		f := flags[k]
		if f.Changed {
			continue
		}
		if s, ok := lookupEnv(k); ok {
			if want := checkString(f.Value.Type(), s); want != "" {
				return usageErrorf("%s: %s=%s: setting %s: want %s", name, envName(k), shortValue(s), k, want)
			}
			continue
		}
		if s, ok := file.values[k].(string); ok {
			if want := checkString(f.Value.Type(), s); want != "" {
				return usageErrorf("%s: config %s: setting %s: want %s, got %s", name, file.path, k, want, shortValue(s))
			}
		}
	}
	return nil
}

// fileValue normalizes a value from the YAML file for a flag of type typ:
// a list of strings for a list flag, else the scalar as a string (YAML's
// 3 and 3.0 are "3", its true is "true"), for checkString to parse as it
// parses the environment. want is what was expected when val does not fit.
func fileValue(typ string, val any) (out any, want string) {
	if isListType(typ) {
		switch x := val.(type) {
		case string:
			return x, ""
		case []any:
			list := make([]string, 0, len(x))
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, "a list of strings (or one string, comma-separated)"
				}
				list = append(list, s)
			}
			return list, ""
		}
		return nil, "a list of strings (or one string, comma-separated)"
	}
	switch val.(type) {
	case string, bool, int, int32, int64, uint64, float64:
		return fmt.Sprint(val), ""
	}
	return nil, "a single value, not a list or a map"
}

func isListType(typ string) bool { return typ == "stringSlice" || typ == "stringArray" }

// checkString checks s, from the environment or the file, against a flag
// type as pflag names it; it returns what was wanted, or "" when s fits.
// A flag type it does not know is refused, so a new kind of flag cannot
// slip past unchecked (TestConfigFlagTypes covers every daemon's flags).
func checkString(typ, s string) (want string) {
	var err error
	switch typ {
	case "string", "stringSlice", "stringArray":
		return ""
	case "int", "int8", "int16", "int32", "int64":
		_, err = strconv.ParseInt(s, 10, 64)
		want = "an integer"
	case "uint", "uint8", "uint16", "uint32", "uint64":
		_, err = strconv.ParseUint(s, 10, 64)
		want = "a non-negative integer"
	case "float32", "float64":
		_, err = strconv.ParseFloat(s, 64)
		want = "a number"
	case "bool":
		_, err = strconv.ParseBool(s)
		want = "true or false"
	case "duration":
		_, err = time.ParseDuration(s)
		want = "a duration such as 90s or 5m"
	default:
		return "a value of flag type " + typ + ", which imh cannot check"
	}
	if err == nil {
		return ""
	}
	return want
}

// shortValue prints a setting's value for an error message, cut short:
// a value can be anything a YAML file or an environment variable holds.
func shortValue(val any) string {
	s := fmt.Sprintf("%q", fmt.Sprint(val))
	if _, ok := val.(string); !ok {
		s = fmt.Sprintf("%T %v", val, val)
	}
	const max = 60
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// tlsSettings are the TLS file settings of every daemon (--ca-file,
// --cert-file, --key-file), squashed into each daemon's config struct.
type tlsSettings struct {
	CAFile   string `mapstructure:"ca-file"`
	CertFile string `mapstructure:"cert-file"`
	KeyFile  string `mapstructure:"key-file"`
}

// files is the settings in the form pki.LoadFor takes.
func (t tlsSettings) files() pki.Files {
	return pki.Files{CA: t.CAFile, Cert: t.CertFile, Key: t.KeyFile}
}

// addConfigFileFlag adds --config to a daemon command (docs/cli.md).
func addConfigFileFlag(f *pflag.FlagSet) {
	f.String(configFileFlag, "", "YAML config file (keys = flag names; env IMH_CONFIG)")
}
