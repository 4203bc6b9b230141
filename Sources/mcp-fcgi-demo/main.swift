import MCPFCGI

// Block SIGTERM/SIGINT before anything starts a thread: the server takes them with sigwait to drain.
FastCGIServer.blockTerminationSignals()
DemoCommand.main()
