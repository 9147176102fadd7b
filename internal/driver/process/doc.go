// Package process is the driver that runs a release as local processes:
// Options.Instances instances per slot, each in its own process group, each
// on a free port chosen by the driver.
//
// Main flow:
//   - New locks StateDir (one driver per directory), loads its records and
//     re-adopts the instances that are still alive (same pid, same start
//     time): a bluegreen killed with SIGKILL and started again finds its
//     instances and watches them again.
//   - Start(slot, version) stops another version running in slot, then
//     spawns the missing instances and records each one atomically in
//     StateDir/<slot>.json before returning their addresses. It does not wait
//     for health: the router's checks decide readiness.
//   - A supervisor goroutine per instance waits for its process (Wait for a
//     child, polling for an adopted one) and restarts it on the same port
//     with exponential backoff when it exits on its own.
//   - Stop sends SIGTERM to each process group, SIGKILL after StopTimeout,
//     and waits until the groups are gone; Close does that for every slot.
//
// Output goes straight from the child to LogDir/<slot>/<version>/<n>.log
// (opened O_APPEND, no pipe through bluegreen, so an instance survives its
// parent's death); a background loop rotates files over LogMaxBytes.
package process
