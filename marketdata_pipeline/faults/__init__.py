"""The fault suite: real processes under real faults, every stored bar compared with the sandbox's afterwards."""
