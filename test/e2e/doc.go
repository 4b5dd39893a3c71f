// Package e2e runs the system as users run it: the phala binary (built once per test run),
// real nodes as separate processes on 127.0.0.1 with free ports, faults injected with signals
// (SIGTERM, SIGKILL). Every wait polls with a deadline; every process is killed at cleanup.
package e2e
