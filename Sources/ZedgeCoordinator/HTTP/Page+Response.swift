import Hummingbird

/// A page is a JSON response body as it is.
extension Page: ResponseEncodable {}
