using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text;
using VmLab.Abstractions.Devices;
using VmLab.Abstractions.Plugins;

[assembly: VmLabPlugin(typeof(VmLab.Plugins.Devices.DevicesModule))]

namespace VmLab.Plugins.Devices;

public sealed record FramebufferOptions
{
    [Description("The name mappings use (mmap ... device NAME).")]
    [Required]
    public string Name { get; init; } = "fb";

    [Description("Bytes of device memory; accesses past it read as 0 and are dropped.")]
    [Range(1, 1 << 26)]
    public int Size { get; init; } = 1 << 20;
}

/// <summary>A simulated framebuffer: stores are kept in device memory and loads return them.</summary>
public sealed class Framebuffer(FramebufferOptions options) : IDevice
{
    private readonly byte[] _memory = new byte[options.Size];

    public string Name => options.Name;

    public ulong Read(ulong offset, int size)
    {
        ulong v = 0;
        for (int i = 0; i < size; i++)
            if (offset + (ulong)i < (ulong)_memory.Length) v |= (ulong)_memory[offset + (ulong)i] << (8 * i);
        return v;
    }

    public void Write(ulong offset, int size, ulong value)
    {
        for (int i = 0; i < size; i++)
            if (offset + (ulong)i < (ulong)_memory.Length) _memory[offset + (ulong)i] = (byte)(value >> (8 * i));
    }
}

public sealed record LogDeviceOptions
{
    [Description("The name mappings use (mmap ... device NAME).")]
    [Required]
    public string Name { get; init; } = "log";

    [Description("File each emulated store is appended to, one line per store (offset, size, value); empty keeps nothing.")]
    public string Path { get; init; } = "";
}

/// <summary>A write-only logging device (a UART-like sink): stores are appended to a file; loads return the store count.</summary>
public sealed class LogDevice(LogDeviceOptions options, string? path) : IDevice
{
    private long _stores;

    public string Name => options.Name;

    public ulong Read(ulong offset, int size) => (ulong)_stores;

    public void Write(ulong offset, int size, ulong value)
    {
        _stores++;
        if (path is not null)
            File.AppendAllText(path, $"{offset:x} {size} {value:x}\n", Encoding.ASCII);
    }
}

public sealed class DevicesModule : IPluginModule
{
    public void Register(IPluginRegistry registry)
    {
        registry.AddDevice<Framebuffer, FramebufferOptions>(
            "framebuffer",
            "Trapped device memory that keeps what is stored: every access faults and is emulated (like MMIO under a hypervisor).",
            c => new Framebuffer(c.Options));
        registry.AddDevice<LogDevice, LogDeviceOptions>(
            "log",
            "A trapped write-only device: every store is emulated and appended to a file; a load returns the store count.",
            c => new LogDevice(c.Options, c.Options.Path.Length == 0 ? null : c.ResolvePath(c.Options.Path)));
    }
}
