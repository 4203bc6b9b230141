import Foundation
import MCPFCGI

/// A recipe, as the `recipes://{name}` resources and the `scale_recipe` tool show it.
struct Recipe: Codable, Sendable {
    var name: String
    var serves: Int
    var ingredients: [Ingredient]
    var steps: [String]
}

/// One ingredient of a recipe.
struct Ingredient: Codable, Sendable {
    var item: String
    var grams: Double
}

/// The book.
let recipes: [String: Recipe] = [
    "pancakes": Recipe(
        name: "pancakes", serves: 4,
        ingredients: [.init(item: "flour", grams: 200), .init(item: "milk", grams: 300), .init(item: "egg", grams: 100)],
        steps: ["Whisk everything into a smooth batter.", "Fry ladlefuls in a hot buttered pan, 1 minute a side."]),
    "risotto": Recipe(
        name: "risotto", serves: 2,
        ingredients: [.init(item: "arborio rice", grams: 160), .init(item: "stock", grams: 800), .init(item: "parmesan", grams: 40)],
        steps: ["Toast the rice.", "Add hot stock a ladle at a time, stirring, for 18 minutes.", "Beat in the parmesan."]),
    "shakshuka": Recipe(
        name: "shakshuka", serves: 2,
        ingredients: [.init(item: "tomatoes", grams: 400), .init(item: "pepper", grams: 150), .init(item: "egg", grams: 200)],
        steps: ["Simmer tomatoes and pepper for 10 minutes.", "Crack in the eggs, cover, cook 6 minutes."]),
]

/// The recipes' names, sorted: what completions suggest.
let recipeNames = recipes.keys.sorted()

/// What `scale_recipe` takes.
struct ScaleRequest: Decodable, SchemaDescribed {
    var recipe: String
    var servings: Int
    static let fields: [String: FieldSchema] = [
        "recipe": .init("A recipe's name (see recipes://index)", minLength: 1),
        "servings": .init("How many people to cook for", minimum: 1, maximum: 50),
    ]
}

/// A recipe as JSON text (sorted keys).
func json(_ recipe: Recipe) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: (try? encoder.encode(recipe)) ?? Data(), as: UTF8.self)
}

/// Registers the book on `server`: the index resource, one resource per recipe (a template whose `{name}` is
/// completed), the `cook` prompt (its argument completed, the recipe embedded) and the typed `scale_recipe` tool.
func registerRecipeBook(on server: MCPServer) {
    server.registerResource(
        uri: "recipes://index", name: "index", title: "All recipes", description: "Every recipe's URI",
        mimeType: "text/markdown"
    ) { uri, _ in
        [.text(recipeNames.map { "- recipes://\($0)" }.joined(separator: "\n"), uri: uri, mimeType: "text/markdown")]
    }

    server.registerResourceTemplate(
        uriTemplate: "recipes://{name}", name: "recipe", title: "A recipe", mimeType: "application/json",
        completions: ["name": { typed, _ in .matching(typed, in: recipeNames) }]
    ) { uri, variables, _ in
        guard let recipe = recipes[variables["name"] ?? ""] else { throw MCPError.resourceNotFound(uri) }
        return [.text(json(recipe), uri: uri, mimeType: "application/json")]
    }

    server.registerPrompt(
        name: "cook", title: "Cook a recipe", description: "Asks the model to walk you through a recipe",
        arguments: [PromptArgument(name: "recipe", description: "The recipe's name", required: true)],
        completions: ["recipe": { typed, _ in .matching(typed, in: recipeNames) }]
    ) { arguments, _ in
        let name = arguments["recipe"] ?? ""
        guard let recipe = recipes[name] else { throw MCPError.invalidParams("No recipe named \(name); see recipes://index") }
        return [
            .user(.resource(.text(json(recipe), uri: "recipes://\(name)", mimeType: "application/json"))),
            .user(.text("Walk me through cooking \(name), one step at a time.")),
        ]
    }

    server.registerTool(
        name: "scale_recipe", title: "Scale a recipe", description: "A recipe's quantities for another number of people",
        annotations: .init(readOnlyHint: true, openWorldHint: false),
        icons: [Icon(src: "https://recipes.example.com/scale.svg", mimeType: "image/svg+xml", sizes: ["any"])]
    ) { (request: ScaleRequest, _) -> Recipe in
        guard var recipe = recipes[request.recipe] else {
            throw MCPError.invalidParams("No recipe named \(request.recipe); one of \(recipeNames.joined(separator: ", "))")
        }
        let factor = Double(request.servings) / Double(recipe.serves)
        recipe.ingredients = recipe.ingredients.map { Ingredient(item: $0.item, grams: ($0.grams * factor).rounded()) }
        recipe.serves = request.servings
        return recipe
    }
}
