using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace VmLab.Host.Config;

/// <summary>
/// Writes bound options (a plugin's options record, <c>MachineOptions</c>) as the JSON the resolved config holds, in
/// <see cref="ExperimentLoader.OptionsJson"/>'s shape: public properties in declaration order under camel-case names,
/// enums as kebab-case names, <see cref="JsonIgnoreAttribute"/> honoured, collections as arrays, string-keyed
/// dictionaries as objects, records nested. It reads values with plain reflection and builds the nodes itself, where
/// System.Text.Json's reflection serializer compiles a generic accessor per value type: that code does not exist in the
/// natively compiled command, and costs a short run JIT time in the managed one. The tests hold it equal to
/// System.Text.Json's output for every built-in plugin's options.
/// </summary>
public static class OptionsWriter
{
    private static readonly JsonNamingPolicy PropertyNames = JsonNamingPolicy.CamelCase;
    private static readonly JsonNamingPolicy EnumNames = JsonNamingPolicy.KebabCaseLower;

    /// <summary>The JSON of <paramref name="value"/> as declared type <paramref name="type"/> (its runtime type when <c>object</c>).</summary>
    public static JsonNode? ToNode(object? value, Type type)
    {
        if (value is null) return null;
        if (type == typeof(object) || type.IsInterface || type.IsAbstract) type = value.GetType();
        type = Nullable.GetUnderlyingType(type) ?? type;
        switch (value)
        {
            case string s: return JsonValue.Create(s);
            case bool b: return JsonValue.Create(b);
            case Enum e: return Enum(e, type);
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
            case char c: return JsonValue.Create(c.ToString());
            case TimeSpan t: return JsonValue.Create(t.ToString("c", CultureInfo.InvariantCulture));
            case IDictionary dictionary: return Dictionary(dictionary, type);
            case IEnumerable items: return Array(items, type);
        }
        var json = new JsonObject();
        foreach (var property in Properties(type))
            json[property.Name] = ToNode(property.Info.GetValue(value), property.Info.PropertyType);
        return json;
    }

    private static JsonNode Enum(Enum e, Type type)
    {
        string text = e.ToString();
        // A value with no name (an integer the enum does not define) is written as its number, as JsonStringEnumConverter does.
        if (text.Length > 0 && (char.IsDigit(text[0]) || text[0] == '-'))
            return JsonValue.Create(Convert.ToInt64(e, CultureInfo.InvariantCulture));
        return JsonValue.Create(string.Join(", ", text.Split(", ").Select(EnumNames.ConvertName)));
    }

    private static JsonArray Array(IEnumerable items, Type type)
    {
        var element = type.IsArray ? type.GetElementType()! : ElementType(type) ?? typeof(object);
        var json = new JsonArray();
        foreach (var item in items) json.Add(ToNode(item, element));
        return json;
    }

    private static JsonObject Dictionary(IDictionary dictionary, Type type)
    {
        var valueType = type.IsGenericType && type.GetGenericArguments() is [_, var v] ? v : typeof(object);
        var json = new JsonObject();
        foreach (DictionaryEntry entry in dictionary)
            json[Convert.ToString(entry.Key, CultureInfo.InvariantCulture)!] = ToNode(entry.Value, valueType);
        return json;
    }

    private static Type? ElementType(Type type) =>
        type.IsGenericType && type.GetGenericArguments() is [var single] ? single
        : type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];

    private readonly record struct Property(string Name, PropertyInfo Info);

    /// <summary>
    /// The serialised properties: public, readable, not indexers, not ignored; the type's own first, then each base
    /// type's, each in declaration order, as System.Text.Json orders them (a name already written hides the base's).
    /// </summary>
    private static IEnumerable<Property> Properties(Type type)
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
