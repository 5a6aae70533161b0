granule 1
