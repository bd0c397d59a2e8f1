"""``python -m kpod_lite.synthetic``: write the synthetic splits (`kpod_lite.synthetic.main`)."""

from kpod_lite.synthetic.splits import main

if __name__ == "__main__":
    raise SystemExit(main())
