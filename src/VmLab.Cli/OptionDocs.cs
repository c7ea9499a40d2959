using System.Reflection;
using System.Text;
using System.Xml.Linq;

namespace VmLab.Cli;

/// <summary>
/// The <c>&lt;summary&gt;</c> of option properties, from the XML documentation file the compiler writes beside a plugin
/// assembly (<c>GenerateDocumentationFile</c>). Each instance reads each file at most once.
/// </summary>
public sealed class OptionDocs
{
    private readonly Dictionary<Assembly, Dictionary<string, string>> _files = [];

    /// <summary>What an option is for: its <c>[Description]</c>, else its XML doc summary, else "".</summary>
    public string Describe(PropertyInfo property) =>
        property.GetCustomAttribute<System.ComponentModel.DescriptionAttribute>()?.Description ?? Summary(property);

    /// <summary>The summary of <paramref name="property"/> as one line of text, or "" when it has none.</summary>
    public string Summary(PropertyInfo property)
    {
        var type = property.DeclaringType;
        if (type is null) return "";
        if (!_files.TryGetValue(type.Assembly, out var members))
        {
            members = Read(type.Assembly);
            _files[type.Assembly] = members;
        }
        return members.GetValueOrDefault($"P:{type.FullName?.Replace('+', '.')}.{property.Name}", "");
    }

    private static Dictionary<string, string> Read(Assembly assembly)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(assembly.Location)) return result;
        string path = Path.ChangeExtension(assembly.Location, ".xml");
        if (!File.Exists(path)) return result;
        XDocument doc;
        try
        {
            doc = XDocument.Load(path);
        }
        catch (Exception e) when (e is IOException or System.Xml.XmlException or UnauthorizedAccessException)
        {
            return result; // documentation is optional: a plugin listing never fails over it
        }
        foreach (var member in doc.Descendants("member"))
        {
            string? name = member.Attribute("name")?.Value;
            var summary = member.Element("summary");
            if (name is null || summary is null) continue;
            result[name] = Text(summary);
        }
        return result;
    }

    /// <summary>The text of a doc element: <c>&lt;see cref="T:X.Y"/&gt;</c> and <c>&lt;paramref name="p"/&gt;</c> become their names, whitespace is collapsed.</summary>
    private static string Text(XElement element)
    {
        var sb = new StringBuilder();
        foreach (var node in element.Nodes())
        {
            switch (node)
            {
                case XText text:
                    sb.Append(text.Value);
                    break;
                case XElement e when e.Attribute("cref") is { } cref:
                    sb.Append(cref.Value[(cref.Value.IndexOf(':') + 1)..].Split('.')[^1]);
                    break;
                case XElement e when e.Attribute("name") is { } name && e.IsEmpty:
                    sb.Append(name.Value);
                    break;
                case XElement e when e.Attribute("langword") is { } word:
                    sb.Append(word.Value);
                    break;
                case XElement e:
                    sb.Append(Text(e));
                    break;
            }
        }
        return string.Join(' ', sb.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }
}
