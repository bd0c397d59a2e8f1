"""``python -m kpod_lite.weighting``: keypoint AUROC of the learned weights (`kpod_lite.weighting.main`)."""

from kpod_lite.weighting.command import main

if __name__ == "__main__":
    main()
