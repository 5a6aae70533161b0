granule 2
