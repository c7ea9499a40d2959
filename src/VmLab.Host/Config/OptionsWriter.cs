using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace VmLab.Host.Config;

/// <summary>
/// Writes bound options (a plugin's options record, <c>MachineOptions</c>) as the JSON the resolved config holds, in
/// <see cref="ExperimentLoader.OptionsJson"/>'s shape: public properties in declaration order (and [JsonPropertyOrder])
/// under camel-case names, enums as kebab-case names (or [JsonStringEnumMemberName]), <see cref="JsonIgnoreAttribute"/>
/// and its conditions honoured, collections as arrays, dictionaries as objects, records nested. It reads values with
/// plain reflection and builds the nodes itself, where System.Text.Json's reflection serializer compiles a generic
/// accessor per value type: that code does not exist in the natively compiled command, and costs a short run JIT time
/// in the managed one. Framework types (dates, Guid, Uri, ...) and anything with a [JsonConverter] still go to
/// System.Text.Json's own converters. The tests hold it equal to System.Text.Json's output for every built-in plugin's
/// options and for a sample of every kind of value.
/// </summary>
public static class OptionsWriter
{
    private static readonly JsonNamingPolicy PropertyNames = JsonNamingPolicy.CamelCase;
    private static readonly JsonNamingPolicy EnumNames = JsonNamingPolicy.KebabCaseLower;

    /// <summary>The JSON of <paramref name="value"/> as declared type <paramref name="type"/> (its runtime type when <c>object</c>).</summary>
    /// <exception cref="JsonException">The value nests deeper than System.Text.Json's default limit (a cycle).</exception>
    public static JsonNode? ToNode(object? value, Type type) => ToNode(value, type, 0);

    private const int MaxDepth = 64;

    private static JsonNode? ToNode(object? value, Type type, int depth)
    {
        if (value is null) return null;
        if (depth > MaxDepth) throw new JsonException($"options nest deeper than {MaxDepth} levels (a cycle?) at a {type.Name}");
        if (type == typeof(object)) type = value.GetType();
        type = Nullable.GetUnderlyingType(type) ?? type;
        switch (value)
        {
            case string s: return JsonValue.Create(s);
            case bool b: return JsonValue.Create(b);
            case Enum e: return Enum(e);
            case int i: return JsonValue.Create(i);
            case long l: return JsonValue.Create(l);
            case uint u: return JsonValue.Create(u);
            case ulong ul: return JsonValue.Create(ul);
            case short sh: return JsonValue.Create(sh);
            case ushort us: return JsonValue.Create(us);
            case byte by: return JsonValue.Create(by);
            case sbyte sb: return JsonValue.Create(sb);
            case double d: return JsonValue.Create(d);
            case float f: return JsonValue.Create(f);
            case decimal m: return JsonValue.Create(m);
        }
        // Any other framework type (dates, Guid, Uri, byte[], TimeSpan, ...) and any type or property with a converter
        // of its own: System.Text.Json's own converters, which need no per-property code.
        if (type.Namespace is { } ns && (ns == "System" || ns.StartsWith("System.", StringComparison.Ordinal)) && !IsCollection(type)
            || type.IsDefined(typeof(JsonConverterAttribute), inherit: true))
            return JsonSerializer.SerializeToNode(value, type, ExperimentLoader.OptionsJson);
        switch (value)
        {
            case IDictionary dictionary: return Dictionary(dictionary, type, depth);
            case IEnumerable items: return Array(items, type, depth);
        }
        var json = new JsonObject();
        foreach (var property in Properties(type))
        {
            object? v = property.Info.GetValue(value);
            var ignore = property.Info.GetCustomAttribute<JsonIgnoreAttribute>()?.Condition;
            if (ignore == JsonIgnoreCondition.WhenWritingNull && v is null) continue;
            if (ignore == JsonIgnoreCondition.WhenWritingDefault && (v is null || (v.GetType().IsValueType && v.Equals(Activator.CreateInstance(v.GetType()))))) continue;
            json[property.Name] = property.Info.IsDefined(typeof(JsonConverterAttribute))
                ? JsonSerializer.SerializeToNode(v, property.Info.PropertyType, ExperimentLoader.OptionsJson)
                : ToNode(v, property.Info.PropertyType, depth + 1);
        }
        return json;
    }

    private static bool IsCollection(Type type) => type != typeof(string) && typeof(IEnumerable).IsAssignableFrom(type) && !type.IsArray || type.IsArray && type != typeof(byte[]);

    private static JsonNode Enum(Enum e)
    {
        string text = e.ToString();
        // A value with no name (an integer the enum does not define) is written as its number, as JsonStringEnumConverter does.
        if (text.Length > 0 && (char.IsDigit(text[0]) || text[0] == '-'))
            return JsonValue.Create(Convert.ToInt64(e, CultureInfo.InvariantCulture));
        return JsonValue.Create(EnumName(e, text));
    }

    /// <summary>A name as JsonStringEnumConverter writes it: a member's [JsonStringEnumMemberName], else kebab case; flags joined.</summary>
    private static string EnumName(Enum e, string text) => string.Join(", ", text.Split(", ").Select(name =>
        e.GetType().GetField(name)?.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? EnumNames.ConvertName(name)));

    private static JsonArray Array(IEnumerable items, Type type, int depth)
    {
        var element = type.IsArray ? type.GetElementType()! : ElementType(type) ?? typeof(object);
        var json = new JsonArray();
        foreach (var item in items) json.Add(ToNode(item, element, depth + 1));
        return json;
    }

    private static JsonObject Dictionary(IDictionary dictionary, Type type, int depth)
    {
        var valueType = type.IsGenericType && type.GetGenericArguments() is [_, var v] ? v : typeof(object);
        var json = new JsonObject();
        foreach (DictionaryEntry entry in dictionary)
        {
            string key = entry.Key is Enum e ? EnumName(e, e.ToString()) : Convert.ToString(entry.Key, CultureInfo.InvariantCulture)!;
            json[key] = ToNode(entry.Value, valueType, depth + 1);
        }
        return json;
    }

    private static Type? ElementType(Type type) =>
        type.IsGenericType && type.GetGenericArguments() is [var single] ? single
        : type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];

    private readonly record struct Property(string Name, PropertyInfo Info);

    /// <summary>
    /// The serialised properties: public, readable, not indexers, not always ignored; the type's own first, then each
    /// base type's, each in declaration order, then by [JsonPropertyOrder], as System.Text.Json orders them (a name
    /// already written hides the base's).
    /// </summary>
    private static IEnumerable<Property> Properties(Type type) =>
        DeclaredProperties(type).Select((p, i) => (p, i)).OrderBy(x => x.p.Info.GetCustomAttribute<JsonPropertyOrderAttribute>()?.Order ?? 0).ThenBy(x => x.i).Select(x => x.p);

    private static IEnumerable<Property> DeclaredProperties(Type type)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var declaring = type; declaring is not null && declaring != typeof(object); declaring = declaring.BaseType)
            foreach (var p in declaring.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            {
                if (p.GetMethod is not { IsPublic: true } || p.GetIndexParameters().Length > 0 || !seen.Add(p.Name)) continue;
                if (p.GetCustomAttribute<JsonIgnoreAttribute>() is { Condition: JsonIgnoreCondition.Always }) continue;
                yield return new Property(p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? PropertyNames.ConvertName(p.Name), p);
            }
    }
}
