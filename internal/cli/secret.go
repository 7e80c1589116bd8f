package cli

import (
	"os"
	"strings"
)

// Secret is a secret given as a flag, an environment variable, or a file
// (--NAME-file, NAME_FILE) as secrets managers mount them. Read it with
// Value after Parse; it is never logged or printed in help.
type Secret struct {
	name, env   string
	value, file string
}

// SecretVar registers --name (env) and --name-file (env_FILE) for s.
func (f *FlagSet) SecretVar(s *Secret, name, env, usage string) {
	s.name, s.env = name, env
	f.StringVar(&s.value, name, env, "", usage)
	f.StringVar(&s.file, name+"-file", env+"_FILE", "", "file holding --"+name+" (for secrets managers)")
}

// Value is the secret, trimmed; "" when it is not set. Setting both forms,
// an unreadable file or an empty one are usage errors.
func (s *Secret) Value() (string, error) {
	if s.value != "" && s.file != "" {
		return "", Usagef("set --%s (%s) or --%s-file (%s_FILE), not both", s.name, s.env, s.name, s.env)
	}
	if s.file == "" {
		return strings.TrimSpace(s.value), nil
	}
	b, err := os.ReadFile(s.file)
	if err != nil {
		return "", Usagef("%s_FILE: %v", s.env, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", Usagef("%s_FILE %s is empty", s.env, s.file)
	}
	return v, nil
}
