//go:build !linux

package pidns

import "errors"

var errNotLinux = errors.New("PID namespaces exist only on Linux")

// Of fails: PID namespaces exist only on Linux.
func Of(string) (Namespace, error) { return Namespace{}, errNotLinux }

// Self fails: PID namespaces exist only on Linux.
func Self(string) (Namespace, error) { return Namespace{}, errNotLinux }

// Others is 0 where there is no /proc.
func Others(string) int { return 0 }
