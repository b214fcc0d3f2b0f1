package devstack

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func writeStackJSON(t *testing.T, dir string, pid int) {
	t.Helper()
	b, err := json.Marshal(Info{PID: pid, DatabaseURL: "postgres://apoyo@127.0.0.1:1/apoyo"})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stack.json"), b, 0o600))
}

// TestDiscoverBelievesOnlyALockedStack: stack.json left by a SIGKILLed
// `apoyo dev` may name a pid that lives again as another program; it is
// believed only while its writer holds the data directory's lock.
func TestDiscoverBelievesOnlyALockedStack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeStackJSON(t, dir, os.Getpid()) // a live pid, but no stack holds the lock
	info, err := Discover(dir)
	require.NoError(t, err)
	require.Nil(t, info, "a stale stack.json naming a reused pid is not a running stack")

	lock, err := lockDir(dir)
	require.NoError(t, err)
	info, err = Discover(dir)
	require.NoError(t, err)
	require.NotNil(t, info)
	require.Equal(t, os.Getpid(), info.PID)

	// Discover's probe leaves the lock as it was: a second stack is still
	// refused, and the first one's lock is intact.
	_, err = lockDir(dir)
	require.ErrorContains(t, err, "another apoyo stack is running")
	require.NoError(t, lock.Close())
	again, err := lockDir(dir)
	require.NoError(t, err, "the lock is free once its holder is gone")
	require.NoError(t, again.Close())
}

// TestDiscoverIgnoresAZombie: a killed stack whose parent has not reaped
// it still "exists" for kill(pid, 0); it runs nothing.
func TestDiscoverIgnoresAZombie(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs procfs")
	}
	dir := t.TempDir()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Wait() })
	// Until reaped, the exited child is a zombie.
	require.Eventually(t, func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat")
		i := strings.LastIndexByte(string(b), ')')
		return err == nil && i > 0 && strings.HasPrefix(string(b[i+1:]), " Z")
	}, time.Minute, 10*time.Millisecond)
	writeStackJSON(t, dir, cmd.Process.Pid)
	lock, err := lockDir(dir) // even with the lock held by someone
	require.NoError(t, err)
	defer lock.Close()
	info, err := Discover(dir)
	require.NoError(t, err)
	require.Nil(t, info)
}
