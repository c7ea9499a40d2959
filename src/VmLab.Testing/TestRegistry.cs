using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;

namespace VmLab.Testing;

/// <summary>
/// An <see cref="IPluginRegistry"/> that keeps what a module registers, and builds a component from a registration
/// with a test context: <see cref="TestMetrics"/>, <see cref="TestFrames"/> over their own physical memory, a fixed
/// seed, the current folder as the config's folder and an empty service provider.
/// </summary>
public sealed class TestRegistry : IPluginRegistry
{
    public List<PluginRegistration> Items { get; } = [];

    public List<ExtensionPointDescriptor> ExtensionPoints { get; } = [];

    public void Add(PluginRegistration registration) => Items.Add(registration);

    public void AddExtensionPoint(ExtensionPointDescriptor descriptor) => ExtensionPoints.Add(descriptor);

    /// <summary>A registry holding what <paramref name="module"/> registers.</summary>
    public static TestRegistry Of(IPluginModule module)
    {
        var registry = new TestRegistry();
        module.Register(registry);
        return registry;
    }

    /// <summary>The one registration of this kind and name.</summary>
    public PluginRegistration Find(PluginKind kind, string name) =>
        Items.SingleOrDefault(r => r.Kind == kind && r.Name == name)
        ?? throw new InvalidOperationException($"no {kind} named '{name}' registered; registered: {string.Join(", ", Items.Select(r => $"{r.Kind} {r.Name}"))}");

    /// <summary>Makes the component <paramref name="name"/> of <paramref name="kind"/> with <paramref name="options"/> (default: a new options object).</summary>
    public T Create<T>(PluginKind kind, string name, object? options = null, TestMetrics? metrics = null, TestFrames? frames = null, ulong seed = 1, int cpu = 0)
    {
        var registration = Find(kind, name);
        options ??= Activator.CreateInstance(registration.OptionsType)!;
        frames ??= new TestFrames();
        var context = new ComponentContext(options, $"machine:{kind}", metrics ?? new TestMetrics(), frames.Memory, frames, seed,
                                           Directory.GetCurrentDirectory(), new NoServices(), cpu);
        return (T)registration.Factory(context);
    }

    private sealed class NoServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }
}
