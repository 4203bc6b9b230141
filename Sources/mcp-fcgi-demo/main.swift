// DemoCommand.run goes through FastCGIServer.run(configuration:logger:makeResponder:), which blocks SIGTERM/SIGINT
// before anything starts a thread; argument parsing starts none.
DemoCommand.main()
