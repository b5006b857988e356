"""The demo: local TLS endpoints with contrasting postures, a Proxy e-Santé stand-in, the
demo seal, and the run that plans, executes, seals and verifies (`run_demo`). Its data
files are in the top-level `data/` folder."""
