// Command odoobus-bench measures a bus worker — odoobus or Odoo's own gevent
// worker — under many websocket subscribers: it opens N sockets (each one
// subscribed to one channel), writes notifications the way Odoo 17 does
// (INSERT INTO bus_bus, then NOTIFY imbus on database "postgres" after the
// commit), and reports delivery latency, lost receipts, close codes, the
// server's memory, CPU and file descriptors, PostgreSQL connections and the
// bus_bus statements per burst.
//
// It is a separate program, not an odoobus subcommand: the load must come
// from another process (its own 20,000 open files, its own CPU accounting),
// it talks to Odoo's gevent worker just as well, and odoobus keeps odoo-bin's
// flag set. Every loop is bounded in count and time.
//
// The client side is as cheap as the bench could make it, since it shares
// the CPUs with the server: the upgrade is written by hand, then each
// socket's descriptor is handed to one of GOMAXPROCS epoll read loops (no
// goroutine per socket). Sockets have SO_TIMESTAMPNS set, so each read
// returns the kernel's receive time of the data: the reported latency
// ("kernel receive") is that time minus the send time in the payload, and
// does not depend on when the bench gets to read; the bench's own read time
// is reported beside it ("bench read").
//
// --floor measures this machine's floor with the same client: the bench
// starts a copy of itself as a minimal websocket server (floor.go: the
// upgrade, PING/PONG, CLOSE, and per burst one frame written with write(2)
// on every socket; no session, no SQL, no PostgreSQL) and measures it as
// any target; the report says the target is the floor server.
//
//	odoobus-bench --url ws://127.0.0.1:8072/websocket --dsn "host=127.0.0.1 port=5432 user=odoo" \
//	    --db mydb --sessions-dir ~/.local/share/Odoo/sessions --uids 2,6 \
//	    --conns 5000 --channel broadcast --bursts 5 --burst-size 1 --server-pid $(pidof odoobus)
//	odoobus-bench --floor --conns 5000 --bursts 10 --interval 1s --settle 3s
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"odoobus/odoo/odootest"
)

func main() {
	if os.Getenv(floorEnv) == "1" {
		// The floor server child of --floor (floor.go).
		os.Exit(floorMain(os.Stdin, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	opts, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "odoobus-bench:", err)
		os.Exit(2)
	}
	if opts.SetupDB != "" {
		msg, err := setupDB(opts)
		if err != nil {
			fmt.Fprintln(os.Stderr, "odoobus-bench: --setup-db:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, msg)
		return
	}
	res, err := run(ctx, opts, os.Stderr)
	if res != nil {
		res.print(os.Stdout)
		if opts.Out != "" {
			if werr := res.write(opts.Out); werr != nil {
				fmt.Fprintln(os.Stderr, "odoobus-bench:", werr)
				os.Exit(1)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "odoobus-bench:", err)
		os.Exit(1)
	}
}

// setupDB is --setup-db: a benchmark database for odoobus, built from the
// repository's captured schema and fixtures (odoobus-bench runs from a
// checkout), whose ir_module_module is a real install's (--setup-modules).
func setupDB(o *options) (string, error) {
	if err := odootest.Create(o.DSN, o.SetupDB, o.DB, odootest.Modules(o.SetupModules)); err != nil {
		return "", err
	}
	mods := "the test fixtures' module rows"
	if o.SetupModules != "" {
		mods = "the modules of a real " + o.SetupModules + " install"
	}
	return fmt.Sprintf("database %s: Odoo %s schema and fixtures, %s", o.DB, o.SetupDB, mods), nil
}
