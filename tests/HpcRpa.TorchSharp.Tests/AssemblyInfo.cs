// Torch's random generator is process-global: tests that draw from it (randn, module init) must not interleave.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
