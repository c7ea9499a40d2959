using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace VmLab.Host.Config;

/// <summary>
/// Binds a configuration section onto an options type, strictly: every key must be a property (case-insensitive),
/// every value must convert, and every <c>[Range]</c>/<c>[Required]</c>/<c>IValidatableObject</c> rule must hold.
/// Problems are collected with their key paths, not thrown one at a time.
/// </summary>
/// <summary>
/// What binding needs to know about an options type, found by reflection once per type (a loader keeps one and shares
/// it among the experiments it loads: a 10,000-case sweep reflects over each type once, not 10,000 times).
/// </summary>
public sealed class BindingMetadata
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Type, IReadOnlyList<PropertyInfo>> _properties = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Type, IReadOnlyList<RangeRule>> _ranges = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Type, bool> _needsValidator = new();

    private readonly System.Collections.Concurrent.ConcurrentDictionary<Type, IReadOnlyList<PropertyInfo>> _existingFiles = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Type, bool> _scalar = new();

    public IReadOnlyList<PropertyInfo> Properties(Type type) => _properties.GetOrAdd(type, StrictBinder.WritableProperties);

    /// <summary>The properties marked <see cref="VmLab.Abstractions.Plugins.ExistingFileAttribute"/>.</summary>
    public IReadOnlyList<PropertyInfo> ExistingFiles(Type type) => _existingFiles.GetOrAdd(type, t =>
        [.. Properties(t).Where(p => p.IsDefined(typeof(VmLab.Abstractions.Plugins.ExistingFileAttribute), inherit: true))]);

    public bool IsScalar(Type type) => _scalar.GetOrAdd(type, StrictBinder.IsScalar);

    /// <summary>A property and its <c>[Range]</c>. A class, not a tuple: LINQ over it runs precompiled code at start-up.</summary>
    public sealed record RangeRule(PropertyInfo Property, RangeAttribute Range);

    public IReadOnlyList<RangeRule> Ranges(Type type) => _ranges.GetOrAdd(type, t =>
        [.. Properties(t).Where(p => p.GetCustomAttribute<RangeAttribute>() is not null).Select(p => new RangeRule(p, p.GetCustomAttribute<RangeAttribute>()!))]);

    /// <summary>A property and its <c>[Required]</c>, with the name the data-annotation validator would give it in a message.</summary>
    public sealed record RequiredRule(PropertyInfo Property, RequiredAttribute Required, string DisplayName);

    /// <summary>The writable properties marked <c>[Required]</c> (the attribute itself, not a subclass), in property order.</summary>
    public IReadOnlyList<RequiredRule> Required(Type type) => _required.GetOrAdd(type, t =>
        [.. Properties(t).Where(p => p.GetCustomAttribute<RequiredAttribute>() is { } r && r.GetType() == typeof(RequiredAttribute))
            .Select(p => new RequiredRule(p, p.GetCustomAttribute<RequiredAttribute>()!, p.GetCustomAttribute<DisplayAttribute>()?.GetName() ?? p.Name))]);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<Type, IReadOnlyList<RequiredRule>> _required = new();

    /// <summary>
    /// Whether <paramref name="type"/> has validation rules other than <c>[Range]</c> and <c>[Required]</c> (which are
    /// checked directly: the data-annotation validator builds type descriptors, several milliseconds for each new type).
    /// </summary>
    public bool NeedsValidator(Type type) => _needsValidator.GetOrAdd(type, t =>
        typeof(IValidatableObject).IsAssignableFrom(t)
        || t.GetCustomAttributes<ValidationAttribute>(inherit: true).Any()
        || t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Any(p => p.GetCustomAttributes<ValidationAttribute>(inherit: true).Any(a => a is not RangeAttribute && a.GetType() != typeof(RequiredAttribute))
                      || p.GetCustomAttribute<RequiredAttribute>() is not null && !Properties(t).Contains(p)));
}

/// <param name="locate">Where a key path stands (file:line:column, or the --set that gave it).</param>
/// <param name="jsonBoolean">Whether a key path's value was a JSON true or false (the configuration tree holds it as "True" or "False"), so an error shows it as written; null: never.</param>
public sealed class StrictBinder(Func<string, string> locate, BindingMetadata? metadata = null, Func<string, bool>? jsonBoolean = null)
{
    private readonly BindingMetadata _metadata = metadata ?? new BindingMetadata();
    private readonly List<ConfigError> _errors = [];
    private readonly HashSet<string> _notObjects = new(StringComparer.OrdinalIgnoreCase);

    public IReadOnlyList<ConfigError> Errors => _errors;

    /// <summary>Whether the value at <paramref name="keyPath"/> was a scalar where an object belongs (already reported: say nothing more about it).</summary>
    public bool WasNotAnObject(string keyPath) => _notObjects.Contains(keyPath);

    public void Error(string keyPath, string message) => _errors.Add(new ConfigError(locate(keyPath), $"{keyPath}: {message}"));

    /// <summary>Creates an instance of <paramref name="type"/> with its defaults and applies <paramref name="section"/> (may be null: defaults only).</summary>
    public object Bind(IConfigurationSection? section, Type type, string keyPath)
    {
        var instance = Activator.CreateInstance(type)
                       ?? throw new InvalidOperationException($"{type} has no parameterless constructor");
        if (section is not null) BindObject(section, instance, keyPath);
        if (!_notObjects.Contains(keyPath)) Validate(instance, keyPath);
        return instance;
    }

    private void BindObject(IConfigurationSection section, object instance, string keyPath)
    {
        var children = section.GetChildren().ToList();
        if (children.Count == 0)
        {
            if (!string.IsNullOrEmpty(section.Value))
            {
                Error(keyPath, $"expected an object ({{ ... }}), got the value \"{section.Value}\"{ObjectHint(instance.GetType(), keyPath)}");
                _notObjects.Add(keyPath);
            }
            return;
        }
        if (section.Value is not null)
        {
            // A scalar set over an object (`--set machine:tlb=lru`, a sweep axis of strings at a component key): the
            // configuration keeps both, and binding only the children would silently run the object as it was.
            Error(keyPath, $"expected an object ({{ ... }}), got the value \"{section.Value}\"{ObjectHint(instance.GetType(), keyPath)}");
            _notObjects.Add(keyPath);
            return;
        }
        var properties = _metadata.Properties(instance.GetType());
        foreach (var child in children)
        {
            string childPath = Join(keyPath, child.Key);
            var property = properties.FirstOrDefault(p => string.Equals(p.Name, child.Key, StringComparison.OrdinalIgnoreCase));
            if (property is null)
            {
                if (int.TryParse(child.Key, out _))
                    Error(keyPath, "expected an object ({ ... }), got an array");
                else
                    Error(childPath, $"unknown key '{child.Key}'; {Suggest.Hint(child.Key, properties.Select(p => CamelCase(p.Name)).ToList())}");
                continue;
            }
            if (TryConvert(child, property.PropertyType, childPath, out var value))
                property.SetValue(instance, value);
        }
    }

    public bool TryConvert(IConfigurationSection section, Type type, string keyPath, out object? value)
    {
        value = null;
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        bool hasChildren = section.GetChildren().Any();

        if (_metadata.IsScalar(underlying))
        {
            if (hasChildren)
            {
                Error(keyPath, $"expected {Describe(underlying)}, got an object or array");
                return false;
            }
            if (section.Value is null)
            {
                if (Nullable.GetUnderlyingType(type) is not null || !underlying.IsValueType && underlying != typeof(string))
                    return true;
                Error(keyPath, $"expected {Describe(underlying)}, got null; remove the key to use the default");
                return false;
            }
            return TryParseScalar(section.Value, underlying, keyPath, out value);
        }

        if (ElementType(underlying) is { } element)
        {
            var items = section.GetChildren().ToList();
            if (!hasChildren && !string.IsNullOrEmpty(section.Value) || hasChildren && section.Value is not null)
            {
                Error(keyPath, $"expected an array ([ ... ]), got the value \"{section.Value}\"");
                return false;
            }
            var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(element))!;
            bool ok = true;
            foreach (var item in items.OrderBy(i => int.TryParse(i.Key, out int n) ? n : int.MaxValue))
            {
                if (!int.TryParse(item.Key, out _))
                {
                    Error(keyPath, "expected an array ([ ... ]), got an object");
                    return false;
                }
                if (TryConvert(item, element, Join(keyPath, item.Key), out var v)) list.Add(v);
                else ok = false;
            }
            if (!ok) return false;
            if (underlying.IsArray)
            {
                var array = Array.CreateInstance(element, list.Count);
                list.CopyTo(array, 0);
                value = array;
            }
            else value = list;
            return true;
        }

        if (underlying == typeof(IConfigurationSection))
        {
            value = section;
            return true;
        }

        value = Bind(section, underlying, keyPath);
        return true;
    }

    /// <summary>How to set a key of the object instead, e.g. <c>machine:tlb:plugin=lru</c> for a component.</summary>
    private static string ObjectHint(Type type, string keyPath)
    {
        var first = WritableProperties(type).FirstOrDefault(p => p.Name == "Plugin") ?? WritableProperties(type).FirstOrDefault();
        return first is null ? "" : $"; set one of its keys instead, e.g. {Join(keyPath, CamelCase(first.Name))}=...";
    }

    private bool TryParseScalar(string text, Type type, string keyPath, out object? value)
    {
        value = null;
        var ci = CultureInfo.InvariantCulture;
        if (type == typeof(string))
        {
            value = text;
            return true;
        }
        if (type == typeof(bool))
        {
            if (bool.TryParse(text, out var b)) { value = b; return true; }
        }
        else if (type == typeof(int))
        {
            if (TryParseInteger(text, out var l) && l is >= int.MinValue and <= int.MaxValue) { value = (int)l; return true; }
        }
        else if (type == typeof(long))
        {
            if (TryParseInteger(text, out var l)) { value = l; return true; }
        }
        else if (type == typeof(ulong))
        {
            if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                    ? ulong.TryParse(text.AsSpan(2), NumberStyles.HexNumber, ci, out var u)
                    : ulong.TryParse(text, NumberStyles.None, ci, out u)) { value = u; return true; }
        }
        else if (type == typeof(double))
        {
            if (double.TryParse(text, NumberStyles.Float, ci, out var d) && double.IsFinite(d)) { value = d; return true; }
        }
        else if (type.IsEnum)
        {
            foreach (var name in Enum.GetNames(type))
            {
                if (string.Equals(KebabCase(name), text, StringComparison.OrdinalIgnoreCase) || string.Equals(name, text, StringComparison.OrdinalIgnoreCase))
                {
                    value = Enum.Parse(type, name);
                    return true;
                }
            }
            var allowed = Enum.GetNames(type).Select(KebabCase).ToList();
            Error(keyPath, $"'{text}' is not allowed; {Suggest.Hint(text, allowed)}");
            return false;
        }
        string shown = jsonBoolean?.Invoke(keyPath) == true && bool.TryParse(text, out bool flag) ? (flag ? "true" : "false") : $"\"{text}\"";
        Error(keyPath, $"expected {Describe(type)}, got {shown}");
        return false;
    }

    private static bool TryParseInteger(string text, out long value)
    {
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return long.TryParse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value);
        return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>Runs the data-annotation rules of an options object, reporting each against its key path.</summary>
    public void Validate(object instance, string keyPath)
    {
        var type = instance.GetType();
        var results = new List<ValidationResult>();
        // The data-annotation validator is slow (reflection per call); run it only for types with rules beyond [Range].
        if (_metadata.NeedsValidator(type))
        {
            Validator.TryValidateObject(instance, new ValidationContext(instance), results, validateAllProperties: true);
            results.RemoveAll(r => r.ErrorMessage?.Contains("must be between", StringComparison.Ordinal) == true
                                   && r.MemberNames.Any(m => _metadata.Ranges(type).Any(x => x.Property.Name == m)));
        }
        else
        {
            // What the validator reports for [Required], in the same order and words.
            foreach (var rule in _metadata.Required(type))
                if (!rule.Required.IsValid(rule.Property.GetValue(instance)))
                    results.Add(new ValidationResult(rule.Required.FormatErrorMessage(rule.DisplayName), [rule.Property.Name]));
        }
        foreach (var (property, range) in _metadata.Ranges(type))
        {
            if (!InRange(range, property.GetValue(instance)))
                results.Add(new ValidationResult($"{FormatValue(property.GetValue(instance))} is out of range; allowed: {range.Minimum} to {range.Maximum}", [property.Name]));
        }
        foreach (var r in results)
        {
            var member = r.MemberNames.FirstOrDefault();
            string path = member is null ? keyPath : Join(keyPath, CamelCase(member));
            string message = r.ErrorMessage ?? "invalid";
            if (message.StartsWith("The ", StringComparison.Ordinal) && message.Contains(" field is required", StringComparison.Ordinal))
                message = "is required";
            Error(path, message);
        }
    }

    /// <summary>
    /// <see cref="RangeAttribute.IsValid"/>, with a <c>long</c> value against <c>[Range(typeof(long), "min", "max")]</c>
    /// compared directly: the attribute would convert through a type descriptor, whose first use costs a run's start
    /// several milliseconds.
    /// </summary>
    internal static bool InRange(RangeAttribute range, object? value)
    {
        if (range.OperandType == typeof(long) && value is long v && range.Minimum is string min && range.Maximum is string max
            && long.TryParse(min, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long lo)
            && long.TryParse(max, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long hi) && lo <= hi)
            return (range.MinimumIsExclusive ? v > lo : v >= lo) && (range.MaximumIsExclusive ? v < hi : v <= hi);
        return range.IsValid(value);
    }

    private static string FormatValue(object? v) => v switch
    {
        null => "null",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    public static IReadOnlyList<PropertyInfo> WritableProperties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract")
            .ToList();

    internal static bool IsScalar(Type t) => t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal);

    /// <summary>The element type of an array or list option (<c>string[]</c>, <c>List&lt;int&gt;</c>, ...), or null when the type is not one.</summary>
    public static Type? ElementType(Type t)
    {
        if (t == typeof(string)) return null;
        if (t.IsArray) return t.GetElementType();
        if (t.IsGenericType)
        {
            var def = t.GetGenericTypeDefinition();
            if (def == typeof(List<>) || def == typeof(IReadOnlyList<>) || def == typeof(IList<>) || def == typeof(IEnumerable<>) || def == typeof(IReadOnlyCollection<>))
                return t.GetGenericArguments()[0];
        }
        return null;
    }

    public static string Describe(Type t)
    {
        t = Nullable.GetUnderlyingType(t) ?? t;
        if (t == typeof(bool)) return "true or false";
        if (t == typeof(int) || t == typeof(long)) return "an integer";
        if (t == typeof(ulong)) return "a non-negative integer";
        if (t == typeof(double)) return "a number";
        if (t == typeof(string)) return "a string";
        if (t.IsEnum) return "one of " + string.Join(", ", Enum.GetNames(t).Select(KebabCase));
        if (ElementType(t) is { } e) return $"an array of {Describe(e)}";
        return "an object";
    }

    public static string Join(string keyPath, string key) => keyPath.Length == 0 ? key : $"{keyPath}:{key}";

    public static string CamelCase(string name) => name.Length == 0 ? name : char.ToLowerInvariant(name[0]) + name[1..];

    public static string KebabCase(string name)
    {
        var sb = new StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c))
            {
                if (i > 0 && (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1]))) sb.Append('-');
                sb.Append(char.ToLowerInvariant(c));
            }
            else sb.Append(c);
        }
        return sb.ToString();
    }
}
