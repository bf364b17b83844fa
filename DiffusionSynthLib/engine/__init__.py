"""Networks from MONAI, one sampling loop, tiling and device handling."""
