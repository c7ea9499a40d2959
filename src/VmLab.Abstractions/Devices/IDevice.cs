namespace VmLab.Abstractions.Devices;

/// <summary>
/// A memory-mapped device whose pages are trapped: the kernel never maps them, so every access faults and is
/// emulated here — the trick a hypervisor plays for MMIO. Offsets are from the start of the mapping.
/// </summary>
public interface IDevice
{
    /// <summary>The name mappings refer to (a scenario's <c>mmap ... device NAME</c>).</summary>
    string Name { get; }

    /// <summary>An emulated load of <paramref name="size"/> bytes (1 to 8), little-endian.</summary>
    ulong Read(ulong offset, int size);

    /// <summary>An emulated store of <paramref name="size"/> bytes (1 to 8).</summary>
    void Write(ulong offset, int size, ulong value);
}
