using Xunit;

namespace VmLab.Plugins.Tests;

/// <summary>
/// Tests that count this thread's allocated bytes run alone: a collection triggered by a test allocating on another
/// thread can shift the count of the thread being measured.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationMeasurement
{
    public const string Name = "allocation measurement";
}
